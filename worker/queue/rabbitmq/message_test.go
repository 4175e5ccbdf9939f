package rabbitmq

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// A message another client published whose payload is not UTF-8 is not
// taken for a job (the caller dead-letters it, where a sweep counts it
// among the messages that are not jobs), so it never reaches a listing;
// the same body in UTF-8 is a job.
func TestDeliveryWithPayloadNotUTF8IsNotAJob(t *testing.T) {
	bad := amqp.Delivery{ContentType: "application/json", MessageId: "m1", Body: []byte(`{"type":"noop","payload":{"note":"` + "\xc3\x28" + `"}}`)}
	if dv, err := decodeDelivery(bad, "images"); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Fatalf("payload not UTF-8: decoded %+v, %v; want an error naming UTF-8", dv, err)
	}
	good := amqp.Delivery{ContentType: "application/json", MessageId: "m2", Body: []byte(`{"type":"noop","payload":{"note":"é"}}`)}
	dv, err := decodeDelivery(good, "images")
	if err != nil || dv.job.ID != "m2" || string(dv.job.Payload) != `{"note":"é"}` {
		t.Fatalf("UTF-8 payload: %+v, %v", dv, err)
	}
}
