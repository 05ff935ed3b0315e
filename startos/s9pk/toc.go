package s9pk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"lukechampine.com/blake3"
)

// EntryType says whether an entry is a file or a directory.
type EntryType uint8

// Entry types.
const (
	FileEntry EntryType = iota + 1
	DirEntry
)

func (t EntryType) String() string {
	switch t {
	case FileEntry:
		return "file"
	case DirEntry:
		return "directory"
	}
	return "missing"
}

// Entry is a file or directory of an opened archive. Every field has been
// verified against the signature.
type Entry struct {
	Name string
	Path string // slash-separated, from the root; "" for the root
	Type EntryType
	Hash [32]byte // BLAKE3 of a file; sighash of a directory
	// Size is a file's length, or the signed upper bound of a directory's
	// table of contents.
	Size int64
	// Pos is where a file's contents, or a directory's table, start.
	Pos int64
	// TOCSize is the actual size of a directory's table of contents.
	TOCSize  int64
	Children []*Entry // a directory's entries, in table order

	ref region // where the entry is described
}

// Child returns the directory entry named name, or nil.
func (e *Entry) Child(name string) *Entry {
	for _, c := range e.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (e *Entry) region() region {
	part := "file " + e.Path
	start, end := e.Pos, e.Pos+e.Size
	if e.Type == DirEntry {
		part = "table of contents of " + e.Path
		if e.Path == "" {
			part = "root table of contents"
		}
		end = e.Pos + e.TOCSize
	}
	return region{part: part, start: start, end: end, refStart: e.ref.start, refEnd: e.ref.end}
}

// checkName refuses names that could escape a folder when unpacked.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("name is %d bytes; the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q is not UTF-8", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name %q contains / or NUL", name)
	}
	return nil
}

func appendVarint(b []byte, n uint64) []byte { return binary.AppendUvarint(b, n) }

func varintLen(n uint64) int64 {
	l := int64(1)
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// readVarint reads an unsigned LEB128 number of at most 10 bytes, refusing
// non-minimal encodings so that no byte of a table escapes its hash.
func readVarint(b []byte) (uint64, int, error) {
	n, l := binary.Uvarint(b)
	switch {
	case l == 0:
		return 0, 0, errors.New("truncated number")
	case l < 0:
		return 0, 0, errors.New("number overflows 64 bits")
	case l > 1 && b[l-1] == 0:
		return 0, 0, errors.New("number is not minimally encoded")
	}
	return n, l, nil
}

// tocEntry is one line of a table of contents, for writing and hashing.
type tocEntry struct {
	name    string
	hash    [32]byte
	size    uint64
	typ     byte
	pos     uint64
	tocSize uint64 // directories
}

func entryLen(name string, typ byte) int64 {
	n := varintLen(uint64(len(name))) + int64(len(name)) + 32 + 8 + 1
	switch typ {
	case typeFile:
		n += 8
	case typeDir:
		n += 16
	}
	return n
}

func appendTOC(b []byte, entries []tocEntry) []byte {
	b = appendVarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = appendVarint(b, uint64(len(e.name)))
		b = append(b, e.name...)
		b = append(b, e.hash[:]...)
		b = binary.BigEndian.AppendUint64(b, e.size)
		b = append(b, e.typ)
		switch e.typ {
		case typeFile:
			b = binary.BigEndian.AppendUint64(b, e.pos)
		case typeDir:
			b = binary.BigEndian.AppendUint64(b, e.pos)
			b = binary.BigEndian.AppendUint64(b, e.tocSize)
		}
	}
	return b
}

// sighash is BLAKE3 of the table with every entry written as missing, sorted
// by name: it does not depend on where anything is laid out.
func sighash(entries []tocEntry) [32]byte {
	sorted := make([]tocEntry, len(entries))
	for i, e := range entries {
		sorted[i] = tocEntry{name: e.name, hash: e.hash, size: e.size, typ: typeMissing}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	return blake3.Sum256(appendTOC(nil, sorted))
}

// minEntryLen is the smallest encoded entry: a one-byte name, a missing type.
const minEntryLen = 1 + 1 + 32 + 8 + 1

// parseTOC reads the table of dir, whose bytes buf start at dir.Pos, checks
// it against dir.Hash, and fills dir.Children.
func parseTOC(dir *Entry, buf []byte) error {
	reg := dir.region()
	fail := func(format string, args ...any) error { return reg.fail(malformed, format, args...) }
	count, off, err := readVarint(buf)
	if err != nil {
		return fail("entry count: %v", err)
	}
	if count > uint64(len(buf))/minEntryLen {
		return fail("claims %d entries, more than %d bytes can hold", count, len(buf))
	}
	entries := make([]tocEntry, 0, count)
	seen := make(map[string]bool, count)
	for i := range count {
		start := off
		nameLen, l, err := readVarint(buf[off:])
		if err != nil {
			return fail("entry %d: name length: %v", i, err)
		}
		off += l
		if nameLen > MaxNameLen {
			return fail("entry %d: name is %d bytes; the limit is %d", i, nameLen, MaxNameLen)
		}
		if uint64(len(buf)-off) < nameLen+32+8+1 {
			return fail("entry %d is cut short", i)
		}
		name := string(buf[off : off+int(nameLen)])
		off += int(nameLen)
		e := tocEntry{name: name}
		copy(e.hash[:], buf[off:off+32])
		off += 32
		e.size = binary.BigEndian.Uint64(buf[off:])
		off += 8
		e.typ = buf[off]
		off++
		switch e.typ {
		case typeFile:
			if len(buf)-off < 8 {
				return fail("entry %d is cut short", i)
			}
			e.pos = binary.BigEndian.Uint64(buf[off:])
			off += 8
		case typeDir:
			if len(buf)-off < 16 {
				return fail("entry %d is cut short", i)
			}
			e.pos = binary.BigEndian.Uint64(buf[off:])
			e.tocSize = binary.BigEndian.Uint64(buf[off+8:])
			off += 16
		case typeMissing:
		default:
			return fail("entry %d has unknown type %d", i, e.typ)
		}
		// Errors name the whole table: a bad byte earlier in it can make a
		// later entry look wrong.
		ref := region{part: reg.part, start: dir.Pos + int64(start), end: dir.Pos + int64(off)}
		if err := checkName(name); err != nil {
			return fail("entry %d (bytes %d-%d): %v", i, ref.start, ref.end, err)
		}
		if seen[name] {
			return fail("entry %d (bytes %d-%d): name %q appears twice", i, ref.start, ref.end, name)
		}
		seen[name] = true
		entries = append(entries, e)

		child := &Entry{Name: name, Path: joinPath(dir.Path, name), Hash: e.hash, ref: ref}
		if e.size > math.MaxInt64 || e.pos > math.MaxInt64 || e.tocSize > math.MaxInt64 {
			return fail("entry %q: size or position out of range", name)
		}
		child.Size, child.Pos, child.TOCSize = int64(e.size), int64(e.pos), int64(e.tocSize)
		switch e.typ {
		case typeFile:
			child.Type = FileEntry
		case typeDir:
			child.Type = DirEntry
		}
		dir.Children = append(dir.Children, child)
	}
	if off != len(buf) {
		return fail("%d bytes follow the last entry", len(buf)-off)
	}
	if got := sighash(entries); got != dir.Hash {
		return reg.fail(badHash, "sighash does not match")
	}
	for _, c := range dir.Children {
		if c.Type == 0 {
			return fail("entry %q is missing (the archive was filtered)", c.Name)
		}
	}
	return nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
