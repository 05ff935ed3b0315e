package feed

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestOfferAndRecvInOrder(t *testing.T) {
	f := New[int](4)
	for i := range 3 {
		if !f.Offer(i) {
			t.Fatalf("offer %d refused", i)
		}
	}
	for want := range 3 {
		got, err := f.Recv(context.Background())
		if err != nil || got != want {
			t.Fatalf("recv = %d, %v; want %d", got, err, want)
		}
	}
}

func TestFullQueueEndsFeedWithFellBehind(t *testing.T) {
	f := New[int](2)
	f.Offer(1)
	f.Offer(2)
	if f.Offer(3) {
		t.Fatal("third offer into a queue of two was accepted")
	}
	if !errors.Is(f.Err(), ErrFellBehind) {
		t.Fatalf("err = %v, want ErrFellBehind", f.Err())
	}
	if f.Offer(4) {
		t.Fatal("offer after end was accepted")
	}
	// Queued values still arrive, then the reason.
	for want := 1; want <= 2; want++ {
		if got, err := f.Recv(context.Background()); err != nil || got != want {
			t.Fatalf("recv = %d, %v; want %d", got, err, want)
		}
	}
	if _, err := f.Recv(context.Background()); !errors.Is(err, ErrFellBehind) {
		t.Fatalf("final recv err = %v, want ErrFellBehind", err)
	}
}

func TestRecvHonoursContext(t *testing.T) {
	f := New[int](1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestCloseWakesReceiverAndFirstEndWins(t *testing.T) {
	f := New[string](1)
	got := make(chan error, 1)
	go func() {
		_, err := f.Recv(context.Background())
		got <- err
	}()
	f.Close()
	f.End(ErrSourceClosed)
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if !f.Ended() {
		t.Fatal("Ended() = false after Close")
	}
}

func TestEndNilMeansSourceClosed(t *testing.T) {
	f := New[int](0)
	f.End(nil)
	if !errors.Is(f.Err(), ErrSourceClosed) {
		t.Fatalf("err = %v", f.Err())
	}
}
