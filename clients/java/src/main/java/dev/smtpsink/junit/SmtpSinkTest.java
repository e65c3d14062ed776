package dev.smtpsink.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs a test class with {@link SmtpSinkExtension}: each test method may take a {@link Mailbox}
 * (its own addresses on the sink the whole run shares) or the {@link SmtpSink} itself.
 *
 * <pre>{@code
 * @SmtpSinkTest
 * class SignupTest {
 *   @Test
 *   void welcome(Mailbox mailbox) {
 *     new SignupMailer(mailbox.smtpHost(), mailbox.smtpPort()).sendWelcome(mailbox.address("alice"));
 *     assertEquals("Welcome", mailbox.waitFor(1, Duration.ofSeconds(10)).get(0).getSubject());
 *   }
 * }
 * }</pre>
 *
 * <p>The same as {@code @ExtendWith(SmtpSinkExtension.class)}.
 */
@Target({ElementType.TYPE, ElementType.ANNOTATION_TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(SmtpSinkExtension.class)
public @interface SmtpSinkTest {}
