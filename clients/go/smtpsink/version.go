package smtpsink

// Version is this module's version: the project's (CMakeLists.txt), checked
// by .ci/check-versions.sh. A release of the module is the git tag
// clients/go/v<Version>.
const Version = "0.1.0"
