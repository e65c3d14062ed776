package dev.smtpsink.testcontainers;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;

/**
 * Waits until the standard {@code grpc.health.v1.Health/Check} of the server as a whole answers
 * SERVING through the host port mapped to {@code port}.
 */
public class GrpcHealthWaitStrategy extends AbstractWaitStrategy {

  private final int port;
  private Duration pollInterval = Duration.ofMillis(50);

  public GrpcHealthWaitStrategy(int port) {
    this.port = port;
  }

  public GrpcHealthWaitStrategy withPollInterval(Duration interval) {
    this.pollInterval = interval;
    return this;
  }

  @Override
  protected void waitUntilReady() {
    String host = waitStrategyTarget.getHost();
    int mapped = waitStrategyTarget.getMappedPort(port);
    Instant deadline = Instant.now().plus(startupTimeout);
    ManagedChannel channel = null;
    String last = "no answer yet";
    try {
      while (Instant.now().isBefore(deadline)) {
        if (channel == null) {
          channel = ManagedChannelBuilder.forAddress(host, mapped).usePlaintext().build();
        }
        try {
          HealthCheckResponse resp =
              HealthGrpc.newBlockingStub(channel)
                  .withDeadlineAfter(1, TimeUnit.SECONDS)
                  .check(HealthCheckRequest.getDefaultInstance());
          if (resp.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
            return;
          }
          last = "status " + resp.getStatus();
        } catch (StatusRuntimeException e) {
          last = e.getStatus().toString();
          // A fresh channel next time: a failed one waits out grpc-java's
          // reconnect backoff (1 s and growing) before trying again.
          channel.shutdownNow();
          channel = null;
        }
        if (!waitStrategyTarget.isRunning()) {
          throw new ContainerLaunchException("container stopped while waiting for gRPC health");
        }
        Thread.sleep(pollInterval.toMillis());
      }
      throw new ContainerLaunchException(
          "gRPC health on "
              + host
              + ":"
              + mapped
              + " not SERVING within "
              + startupTimeout
              + " ("
              + last
              + ")");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ContainerLaunchException("interrupted while waiting for gRPC health", e);
    } finally {
      if (channel != null) {
        channel.shutdownNow();
      }
    }
  }
}
