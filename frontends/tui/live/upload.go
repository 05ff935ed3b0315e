package live

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/startos-go/startos/rpc"
)

// Upload sends the file at path to <UploadURL>/rest/rpc/<id>, the one-shot
// id package.sideload answered, as StartOS does: the bytes do not pass
// through JSON. Progress is published as it goes (Update.Upload).
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
	total := st.Size()
	ctx, stop := b.bound(ctx)
	defer stop()
	body := &countingReader{r: f, report: func(n int64) {
		b.publish(Update{Upload: &UploadProgress{Sent: n, Total: total}})
	}}
	u := b.baseURL + "/rest/rpc/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	req.ContentLength = total
	req.Header.Set("Content-Type", "application/octet-stream")
	if b.opts.LocalCookie != "" {
		req.AddCookie(&http.Cookie{Name: rpc.LocalCookie, Value: b.opts.LocalCookie})
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload to %s: %w", u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error *rpc.Error `json:"error"`
		}
		if json.Unmarshal(msg, &env) == nil && env.Error != nil {
			return fmt.Errorf("upload: %w", env.Error)
		}
		return fmt.Errorf("upload to %s: HTTP %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
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
