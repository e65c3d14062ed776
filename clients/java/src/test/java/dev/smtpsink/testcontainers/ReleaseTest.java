package dev.smtpsink.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.smtpsink.v1.RelayState;
import dev.smtpsink.v1.RelayStatus;
import dev.smtpsink.v1.ReleaseMessageRequest;
import dev.smtpsink.v1.SinkGrpc;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * {@link SmtpSinkClient#release} (ReleaseMessage, issue 10): the exact request the client sends
 * and the status it returns, checked against an in-process gRPC server standing in for smtpsink
 * (no container). {@link SmtpSinkContainerTest} releases a message through the real server in the
 * container.
 */
class ReleaseTest {

  @Test
  void releaseRequestMapsTheOptions() {
    ReleaseMessageRequest r = SmtpSinkClient.releaseRequest(7, null, null, null);
    assertEquals(ReleaseMessageRequest.newBuilder().setId(7).build(), r);
    r = SmtpSinkClient.releaseRequest(8, List.of("a@b.test"), "", "smtp://up:25");
    assertEquals(List.of("a@b.test"), r.getRcptToList());
    assertEquals("smtp://up:25", r.getRelayUrl());
    // "" is the null sender, on purpose: it must override too
    assertTrue(r.getOverrideMailFrom());
    assertEquals("", r.getMailFrom());
  }

  @Test
  void releaseSendsTheRequestAndReturnsTheStatus() throws Exception {
    List<ReleaseMessageRequest> got = new CopyOnWriteArrayList<>();
    Server server =
        ServerBuilder.forPort(0)
            .addService(
                new SinkGrpc.SinkImplBase() {
                  @Override
                  public void releaseMessage(
                      ReleaseMessageRequest req, StreamObserver<RelayStatus> out) {
                    got.add(req);
                    if (req.getId() == 404) {
                      out.onError(Status.NOT_FOUND.withDescription("no message 404").asException());
                      return;
                    }
                    out.onNext(
                        RelayStatus.newBuilder()
                            .setState(RelayState.RELAY_STATE_RELAYED)
                            .setUpstream(req.getRelayUrl())
                            .addAllRcptTo(req.getRcptToList())
                            .build());
                    out.onCompleted();
                  }
                })
            .build()
            .start();
    try (SmtpSinkClient client = new SmtpSinkClient("127.0.0.1", server.getPort())) {
      RelayStatus st = client.release(42, List.of("ops@a.test"), "b@a.test", "smtp://up:2525");
      assertEquals(
          SmtpSinkClient.releaseRequest(42, List.of("ops@a.test"), "b@a.test", "smtp://up:2525"),
          got.get(0));
      assertEquals(RelayState.RELAY_STATE_RELAYED, st.getState());
      assertEquals("smtp://up:2525", st.getUpstream());
      StatusRuntimeException e =
          assertThrows(StatusRuntimeException.class, () -> client.release(404));
      assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    } finally {
      server.shutdownNow();
    }
  }
}
