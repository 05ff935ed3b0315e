package live

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Upload sends the file at path to /rest/rpc/<id>, the one-shot id
// package.sideload answered, as StartOS does: the bytes do not pass through
// JSON. It goes through the current connection's client (rpc.Client.Upload),
// which reaches the same daemon: HTTP on the same unix socket, or the
// remote host with the session's cookies. Progress is published as it goes
// (Update.Upload).
func (b *Box) Upload(ctx context.Context, id, path string) error {
	err := b.upload(ctx, id, path)
	if err != nil {
		b.publish(Update{Upload: &UploadProgress{Done: true, Err: err}})
	}
	return err
}

func (b *Box) upload(ctx context.Context, id, path string) error {
	if id == "" {
		return fmt.Errorf("upload %s: the daemon gave no upload id", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	b.mu.Lock()
	c := b.client
	b.mu.Unlock()
	if c == nil {
		return fmt.Errorf("upload %s: %w", path, ErrNotConnected)
	}
	total := st.Size()
	ctx, stop := b.bound(ctx)
	defer stop()
	body := &countingReader{r: f, report: func(n int64) {
		b.publish(Update{Upload: &UploadProgress{Sent: n, Total: total}})
	}}
	if err := c.Upload(ctx, id, body, total); err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	b.publish(Update{Upload: &UploadProgress{Sent: total, Total: total, Done: true}})
	return nil
}

// countingReader reports the bytes read so far, at most every 64 KiB.
type countingReader struct {
	r      io.Reader
	n      atomic.Int64
	last   int64
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	total := c.n.Add(int64(n))
	if total-c.last >= 64<<10 || (err != nil && total != c.last) {
		c.last = total
		c.report(total)
	}
	return n, err
}
