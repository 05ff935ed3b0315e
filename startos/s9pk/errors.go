package s9pk

import (
	"errors"
	"fmt"

	"github.com/startos-go/startos/startos/errdefs"
)

// Error says where in an archive reading or verification failed: the part
// (header, a table of contents, a file), its byte range, and the bytes that
// point to it (a header field or a table-of-contents entry), because a
// corrupted pointer shows up as bad data elsewhere.
//
// It wraps errdefs.ErrInvalidSignature when a signature or hash does not
// match, and errdefs.ErrParseS9pk for everything else.
type Error struct {
	Part       string // "header", "table of contents of images", "file manifest.json", "archive"
	Start, End int64  // the part's bytes, [Start, End); End <= Start when unknown
	// Ref is where the part was described, [RefStart, RefEnd); zero when the
	// part is the header or the archive itself.
	RefStart, RefEnd int64
	// Other is the part this one collides with, when two claim the same bytes.
	Other *Error
	Err   error
}

func (e *Error) Error() string {
	s := "s9pk: " + e.Part
	if e.End > e.Start {
		s += fmt.Sprintf(" (bytes %d-%d", e.Start, e.End)
		if e.RefEnd > e.RefStart {
			s += fmt.Sprintf(", described at bytes %d-%d", e.RefStart, e.RefEnd)
		}
		s += ")"
	} else if e.RefEnd > e.RefStart {
		s += fmt.Sprintf(" (described at bytes %d-%d)", e.RefStart, e.RefEnd)
	}
	s += ": " + e.Err.Error()
	if e.Other != nil {
		s += fmt.Sprintf(" (%s, bytes %d-%d, described at bytes %d-%d)", e.Other.Part, e.Other.Start, e.Other.End, e.Other.RefStart, e.Other.RefEnd)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Covers reports whether the byte at off is one of those the error names.
func (e *Error) Covers(off int64) bool {
	return (off >= e.Start && off < e.End) || (off >= e.RefStart && off < e.RefEnd) ||
		(e.Other != nil && e.Other.Covers(off))
}

// region is a part of the archive: where it is and where it is described.
type region struct {
	part             string
	start, end       int64
	refStart, refEnd int64
}

func (r region) fail(kind error, format string, args ...any) *Error {
	return &Error{
		Part: r.part, Start: r.start, End: r.end, RefStart: r.refStart, RefEnd: r.refEnd,
		Err: fmt.Errorf(format+": %w", append(args, kind)...),
	}
}

// badHash and malformed are the two kinds of failure.
var (
	badHash   = errdefs.ErrInvalidSignature
	malformed = errdefs.ErrParseS9pk
)

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
