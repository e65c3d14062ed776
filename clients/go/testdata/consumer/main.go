// Command consumer is a fresh module that requires the smtpsink Go client
// the way a user's module does (go.mod: require + a replace to this
// checkout). .ci/clients-go.sh builds it with no protoc and no go generate:
// the committed smtpsinkv1/*.pb.go must be all it needs. Never run in CI.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
	"github.com/smtpsink/smtpsink/clients/go/smtpsinkv1"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := smtpsink.NewClient("127.0.0.1:50051")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	msgs, err := c.WaitForMessages(ctx, &smtpsinkv1.Filter{RcptTo: "alice@example.test"}, 1, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(msgs[0].GetSubject())
}
