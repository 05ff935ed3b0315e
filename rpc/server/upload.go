package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/startos-go/startos/rpc"
)

// serveUpload is /rest/rpc/<id>: the body of a large transfer that a call
// announced (package.sideload answers the id). The id is a one-shot
// capability, as in StartOS: it needs no other credentials. The answer comes
// when the install has finished: 204, or the error envelope.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/rest/rpc/")
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "upload with POST", http.StatusMethodNotAllowed)
		return
	}
	if e := s.begin(); e != nil {
		writeUploadError(w, e)
		return
	}
	defer s.end()
	body := &progressBody{r: r.Body, rc: http.NewResponseController(w), timeout: s.bodyTimeout}
	err := s.d.lib.ReceiveUpload(r.Context(), id, body, r.ContentLength)
	armWrite(w)
	if err != nil {
		writeUploadError(w, toError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeUploadError(w http.ResponseWriter, e *rpc.Error) {
	status := http.StatusBadRequest
	switch e.Code {
	case rpc.CodeNotFound:
		status = http.StatusNotFound
	case rpc.CodeUnavailable:
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error *rpc.Error `json:"error"`
	}{e})
}
