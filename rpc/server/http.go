package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/caller"
)

var nullID = json.RawMessage("null")

func errorResponse(id json.RawMessage, e *rpc.Error) *rpc.WireResponse {
	if id == nil {
		id = nullID
	}
	return &rpc.WireResponse{JSONRPC: "2.0", ID: id, Error: e}
}

// serveHTTP is POST /rpc/v1: one request or a batch per body, always HTTP 200
// with the envelope; 204 only when every request asked for no answer
// (see prefersNoAnswer). A streaming method answers its initial value with
// a guid; the items then flow on the WebSocket /ws/rpc/<guid>.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST with a JSON-RPC body", http.StatusMethodNotAllowed)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, 0, errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request",
				fmt.Sprintf("request body exceeds the limit of %d bytes (1 MiB); send large files to /rest/rpc/<id>", rpc.MaxBodyBytes))))
			return
		}
		writeJSON(w, 0, errorResponse(nil, rpc.NewError(rpc.CodeParseError, "Parse Error", "read body: "+err.Error())))
		return
	}
	bodyRead(w) // on error the deadline stays, and ends the connection
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		writeJSON(w, 0, errorResponse(nil, errEmptyRequest()))
		return
	}
	// One request is decoded once; only a refused one is scanned again, to
	// say whether it was JSON at all.
	var (
		single    *request
		singleID  json.RawMessage
		singleErr *rpc.Error
		notJSON   bool
	)
	if body[0] != '[' {
		single, singleID, singleErr = parseRequest(body)
		notJSON = singleErr != nil && !json.Valid(body)
	} else {
		notJSON = !json.Valid(body)
	}
	if notJSON {
		writeJSON(w, 0, errorResponse(nil, errNotJSON()))
		return
	}
	if e := s.begin(); e != nil {
		writeJSON(w, 0, errorResponse(nil, e))
		return
	}
	defer s.end()
	peer := Peer{Transport: "http", RemoteAddr: r.RemoteAddr, UID: -1}
	ctx := caller.With(withPeer(r.Context(), peer), s.identify(r))

	if body[0] != '[' {
		resp, rev := s.callHTTP(ctx, w, r, single, singleID, singleErr)
		if resp == nil {
			armWrite(w)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, rev, resp)
		return
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		writeJSON(w, 0, errorResponse(nil, rpc.NewError(rpc.CodeParseError, "Parse Error", err.Error())))
		return
	}
	switch {
	case len(batch) == 0:
		writeJSON(w, 0, errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "empty batch")))
		return
	case len(batch) > rpc.MaxBatch:
		writeJSON(w, 0, errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request",
			fmt.Sprintf("batch of %d requests exceeds the limit of %d", len(batch), rpc.MaxBatch))))
		return
	}
	var (
		out    []*rpc.WireResponse
		maxRev uint64
	)
	for _, raw := range batch {
		req, id, perr := parseRequest(raw)
		resp, rev := s.callHTTP(ctx, w, r, req, id, perr)
		maxRev = max(maxRev, rev)
		if resp != nil {
			out = append(out, resp)
		}
	}
	if len(out) == 0 {
		armWrite(w)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, maxRev, out)
}

// callHTTP runs one parsed request of a body (or answers why it could not
// be parsed: perr, with the id it could read); nil means the client asked
// for no answer.
func (s *Server) callHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request, id json.RawMessage, perr *rpc.Error) (*rpc.WireResponse, uint64) {
	if perr != nil {
		return errorResponse(id, perr), 0
	}
	out := s.run(ctx, req)
	if req.notification() && prefersNoAnswer(r) {
		if out.stream != nil {
			out.stream.close()
		}
		if out.err == nil {
			applyCookie(w, r, out.method, out.result)
		}
		return nil, out.revision
	}
	id = req.ID
	if id == nil {
		// StartOS answers a request without an id, and its clients
		// (the web UI among them) wait for that answer.
		id = nullID
	}
	if out.err != nil {
		return errorResponse(id, out.err), 0
	}
	if out.stream != nil {
		guid := s.conts.open(out.stream, caller.From(ctx).Session)
		b, merr := continuationResult(out.method, out.result, guid)
		if merr != nil {
			return errorResponse(id, merr), 0
		}
		return &rpc.WireResponse{JSONRPC: "2.0", ID: id, Result: b}, out.revision
	}
	applyCookie(w, r, out.method, out.result)
	result := out.result
	if _, socket := r.Context().Value(socketCallerKey{}).(caller.Caller); !socket {
		result = withoutToken(out.method, result)
	}
	b, merr := marshalResult(result)
	if merr != nil {
		return errorResponse(id, merr), 0
	}
	return &rpc.WireResponse{JSONRPC: "2.0", ID: id, Result: b}, out.revision
}

// prefersNoAnswer reports whether the client asked for JSON-RPC
// notification semantics over HTTP: "Prefer: return=minimal" (RFC 7240) on
// a request without an id. Without it every request is answered, as
// StartOS does.
func prefersNoAnswer(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "return=minimal") {
				return true
			}
		}
	}
	return false
}

// jsonContentType is shared by every answer: header values are never
// changed in place.
var jsonContentType = []string{"application/json"}

// readBody reads a request body of at most rpc.MaxBodyBytes; one of known
// length that fits is read into a buffer of that size at once.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n < 0 || n > rpc.MaxBodyBytes {
		return io.ReadAll(http.MaxBytesReader(w, r.Body, rpc.MaxBodyBytes))
	}
	// The body reader stops at the declared length.
	b := make([]byte, n)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, revision uint64, v any) {
	b, err := encodeResponse(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	armWrite(w)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if revision > 0 {
		h.Set(rpc.PatchSequenceHeader, strconv.FormatUint(revision, 10))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

// encodeResponse encodes v; a successful single response is written around
// its result by hand, byte for byte what encoding/json makes of it (the
// result is compact and escaped already, see marshalResult), instead of a
// second pass over the result.
func encodeResponse(v any) ([]byte, error) {
	r, ok := v.(*rpc.WireResponse)
	if !ok || r.JSONRPC != "2.0" || r.Error != nil || len(r.Result) == 0 || bytes.ContainsAny(r.ID, "<>&\u2028\u2029 \t\r\n") {
		return json.Marshal(v)
	}
	out := make([]byte, 0, len(r.Result)+len(r.ID)+48)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, r.ID...)
	out = append(out, `,"result":`...)
	out = append(out, r.Result...)
	return append(out, '}'), nil
}
