// Package rabbitmq holds the tests of kilnd on the rabbitmq backend
// against real RabbitMQ nodes that the tests start: several kilnd on one
// broker, kill -9 of a kilnd and of the broker, a three-node cluster that
// loses its leader, poison jobs, full queues, bad broker settings, vhosts
// kept apart, and a producer that is not kiln's code. They run with
// KILN_TEST_RABBITMQ=1 (make test-rabbitmq).
package rabbitmq
