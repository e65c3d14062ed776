module github.com/smtpsink/smtpsink/bench/tlsload

go 1.24
