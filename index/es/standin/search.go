package standin

import "net/http"

func (s *Server) search(w http.ResponseWriter, r *http.Request, target string) {
	writeErr(w, &esError{400, "illegal_argument_exception", "search not implemented yet"})
}
