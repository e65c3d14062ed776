"""Build hook: generate the gRPC stubs from the .proto contract.

`pip install clients/python` (or `python -m build`) runs grpcio-tools'
protoc on proto/smtpsink/v1/smtpsink.proto and writes
src/smtpsink/v1/smtpsink_pb2.py, smtpsink_pb2_grpc.py and .pyi type stubs
before the package is assembled. The proto is looked up in ./proto (an
sdist carries a copy) and then in the repository's ../../proto.
"""
import os
import shutil

from setuptools import Command, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_REL = os.path.join("smtpsink", "v1", "smtpsink.proto")


def proto_root():
    for root in (os.path.join(HERE, "proto"), os.path.join(HERE, "..", "..", "proto")):
        if os.path.isfile(os.path.join(root, PROTO_REL)):
            return os.path.normpath(root)
    raise RuntimeError("smtpsink.proto not found in ./proto or ../../proto")


class GenerateStubs(Command):
    description = "generate smtpsink.v1 gRPC stubs with grpcio-tools"
    user_options = []

    def initialize_options(self):
        pass

    def finalize_options(self):
        pass

    def run(self):
        from grpc_tools import protoc  # build requirement
        import grpc_tools

        root = proto_root()
        out = os.path.join(HERE, "src")
        wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{wkt}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(root, PROTO_REL),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("grpc_tools.protoc failed: " + " ".join(args))
        init = os.path.join(out, "smtpsink", "v1", "__init__.py")
        if not os.path.exists(init):
            with open(init, "w") as f:
                f.write('"""Generated from proto/smtpsink/v1/smtpsink.proto (package smtpsink.v1)."""\n')


class BuildPy(build_py):
    def run(self):
        self.run_command("generate_stubs")
        # find_packages ran before the v1 package existed
        if "smtpsink.v1" not in self.packages:
            self.packages.append("smtpsink.v1")
        super().run()


class SDist(sdist):
    def run(self):
        # carry the contract inside the sdist so it builds outside the repository
        dst = os.path.join(HERE, "proto", "smtpsink", "v1")
        src = os.path.join(proto_root(), PROTO_REL)
        if os.path.normpath(os.path.dirname(src)) != os.path.normpath(dst):
            os.makedirs(dst, exist_ok=True)
            shutil.copy2(src, dst)
        super().run()


setup(cmdclass={"generate_stubs": GenerateStubs, "build_py": BuildPy, "sdist": SDist})
