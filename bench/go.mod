module kiln/bench

go 1.26.8

require (
	github.com/mattn/go-sqlite3 v1.14.28
	github.com/rabbitmq/amqp091-go v1.16.0
	golang.org/x/image v0.47.0
	kiln v0.0.0
	maragu.dev/goqite v0.4.0
)

require (
	github.com/oklog/ulid/v2 v2.1.2 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace kiln => ../
