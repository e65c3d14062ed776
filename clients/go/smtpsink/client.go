package smtpsink

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	smtpsinkv1 "github.com/smtpsink/smtpsink/clients/go/smtpsinkv1"
)

// Aliases of the generated API types, so tests need only this package.
type (
	Filter      = smtpsinkv1.Filter
	Message     = smtpsinkv1.Message
	Attachment  = smtpsinkv1.Attachment
	RejectRule  = smtpsinkv1.RejectRule
	Stage       = smtpsinkv1.Stage
	ServerInfo  = smtpsinkv1.ServerInfo
	RelayStatus = smtpsinkv1.RelayStatus
)

// Reject rule stages.
const (
	StageConnect  = smtpsinkv1.Stage_CONNECT
	StageHelo     = smtpsinkv1.Stage_HELO
	StageMailFrom = smtpsinkv1.Stage_MAIL_FROM
	StageRcptTo   = smtpsinkv1.Stage_RCPT_TO
	StageData     = smtpsinkv1.Stage_DATA
	StageAuth     = smtpsinkv1.Stage_AUTH // match: the user name of an AUTH exchange
)

// waitGrace is how much longer than the requested timeout the RPC deadline
// of WaitForMessages is, so the server's own DEADLINE_EXCEEDED status (which
// says how many messages matched) reaches the caller.
const waitGrace = 5 * time.Second

// Client is a connected control client of one sink. It is safe for
// concurrent use; every method takes a filter so that parallel tests each
// using their own recipients never see each other's mail.
type Client struct {
	conn *grpc.ClientConn
	sink smtpsinkv1.SinkClient
}

// NewClient connects to the gRPC control API at target ("host:port"),
// without TLS unless opts say otherwise.
func NewClient(target string, opts ...grpc.DialOption) (*Client, error) {
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: connect %s: %w", target, err)
	}
	return &Client{conn: conn, sink: smtpsinkv1.NewSinkClient(conn)}, nil
}

// Sink is the generated stub, for the RPCs the helpers do not wrap
// (WatchMessages, ...).
func (c *Client) Sink() smtpsinkv1.SinkClient { return c.sink }

// Conn is the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// WaitForMessages returns, as soon as at least count (minimum 1) stored
// messages match filter, all matching messages in id order. The server wakes
// the call when a message is stored; nothing polls. After timeout the error
// has gRPC code DEADLINE_EXCEEDED (status.Code(err)) and says how many
// matched. A nil filter matches every message.
func (c *Client) WaitForMessages(ctx context.Context, filter *Filter, count int, timeout time.Duration) ([]*Message, error) {
	if count < 1 {
		count = 1
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+waitGrace)
	defer cancel()
	resp, err := c.sink.WaitForMessages(ctx, &smtpsinkv1.WaitForMessagesRequest{
		Filter:  filter,
		Count:   uint32(count),
		Timeout: durationpb.New(timeout),
	})
	if err != nil {
		return nil, fmt.Errorf("smtpsink: wait for %d message(s): %w", count, err)
	}
	return resp.GetMessages(), nil
}

// ListMessages returns the stored messages matching filter (nil: all), in id
// order, without raw bytes or attachment contents.
func (c *Client) ListMessages(ctx context.Context, filter *Filter) ([]*Message, error) {
	resp, err := c.sink.ListMessages(ctx, &smtpsinkv1.ListMessagesRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("smtpsink: list messages: %w", err)
	}
	return resp.GetMessages(), nil
}

// GetMessage returns one message with its raw bytes and, if
// withAttachments, the attachments' decoded contents. The error has code
// NOT_FOUND if the message is gone.
func (c *Client) GetMessage(ctx context.Context, id uint64, withAttachments bool) (*Message, error) {
	m, err := c.sink.GetMessage(ctx, &smtpsinkv1.GetMessageRequest{
		Id: id, IncludeRaw: true, IncludeAttachments: withAttachments,
	})
	if err != nil {
		return nil, fmt.Errorf("smtpsink: get message %d: %w", id, err)
	}
	return m, nil
}

// Clear deletes the messages matching filter and returns how many it
// deleted. A nil or empty filter deletes every message: in tests sharing one
// container, pass your own recipient filter.
func (c *Client) Clear(ctx context.Context, filter *Filter) (uint64, error) {
	resp, err := c.sink.Clear(ctx, &smtpsinkv1.ClearRequest{Filter: filter})
	if err != nil {
		return 0, fmt.Errorf("smtpsink: clear: %w", err)
	}
	return resp.GetDeleted(), nil
}

// RejectRule adds a reject / fault-injection rule and returns it with its
// server-assigned Id (delete it with DeleteRejectRule). Example: refuse one
// recipient with 550 5.1.1:
//
//	c.RejectRule(ctx, &smtpsink.RejectRule{Stage: smtpsink.StageRcptTo,
//		Match: "nobody@example.test", Code: 550, Message: "no such user"})
func (c *Client) RejectRule(ctx context.Context, rule *RejectRule) (*RejectRule, error) {
	r, err := c.sink.SetRejectRule(ctx, rule)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: set reject rule: %w", err)
	}
	return r, nil
}

// RejectRules lists the rules in creation order, with their hit counts.
func (c *Client) RejectRules(ctx context.Context) ([]*RejectRule, error) {
	resp, err := c.sink.ListRejectRules(ctx, &smtpsinkv1.ListRejectRulesRequest{})
	if err != nil {
		return nil, fmt.Errorf("smtpsink: list reject rules: %w", err)
	}
	return resp.GetRules(), nil
}

// DeleteRejectRule deletes the rule with this id; an empty id deletes all
// rules. It returns how many rules it deleted.
func (c *Client) DeleteRejectRule(ctx context.Context, id string) (uint64, error) {
	resp, err := c.sink.DeleteRejectRule(ctx, &smtpsinkv1.DeleteRejectRuleRequest{Id: id})
	if err != nil {
		return 0, fmt.Errorf("smtpsink: delete reject rule %q: %w", id, err)
	}
	return resp.GetDeleted(), nil
}

// ReleaseOptions say where and how Release forwards a message; the zero
// value forwards it as received to the server's --relay-url.
type ReleaseOptions struct {
	RelayURL string   // e.g. "smtp://mailpit:1025"; "" = the server's --relay-url
	RcptTo   []string // nil = the message's own envelope recipients
	MailFrom *string  // nil = the message's own envelope sender; "" = the null sender <>
}

func releaseRequest(id uint64, o ReleaseOptions) *smtpsinkv1.ReleaseMessageRequest {
	req := &smtpsinkv1.ReleaseMessageRequest{Id: id, RelayUrl: o.RelayURL, RcptTo: o.RcptTo}
	if o.MailFrom != nil {
		req.MailFrom, req.OverrideMailFrom = *o.MailFrom, true
	}
	return req
}

// Release forwards stored message id to an upstream SMTP server now
// (ReleaseMessage) and returns the final status: state, attempts,
// last_reply and the upstream's replies. The server works within ctx's
// deadline.
func (c *Client) Release(ctx context.Context, id uint64, opts ReleaseOptions) (*RelayStatus, error) {
	st, err := c.sink.ReleaseMessage(ctx, releaseRequest(id, opts))
	if err != nil {
		return nil, fmt.Errorf("smtpsink: release message %d: %w", id, err)
	}
	return st, nil
}

// ServerInfo returns the version, addresses, advertised extensions and
// counters.
func (c *Client) ServerInfo(ctx context.Context) (*ServerInfo, error) {
	info, err := c.sink.GetServerInfo(ctx, &smtpsinkv1.GetServerInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("smtpsink: server info: %w", err)
	}
	return info, nil
}
