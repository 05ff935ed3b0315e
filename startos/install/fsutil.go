package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/startos-go/startos/startos/errdefs"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}

// copyTree copies src to dst (which must not exist): a full copy, not
// hardlinks, so a migration that rewrites a file in place cannot reach the
// snapshot. Modes, symlinks and modification times are kept.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
			}
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err == nil {
				err = os.Symlink(link, target)
			}
			if err != nil {
				return fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
			}
			return nil
		case d.Type().IsRegular():
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
			}
		default:
			return nil // sockets, fifos and devices are not data
		}
		_ = os.Chtimes(target, info.ModTime(), info.ModTime())
		if st, ok := sysOwner(info); ok {
			_ = os.Lchown(target, st.uid, st.gid)
		}
		return nil
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// sameTree reports whether the trees at a and b hold the same names, types,
// symlink targets and file contents.
func sameTree(a, b string) (bool, error) {
	list := func(root string) (map[string]fs.FileMode, error) {
		out := map[string]fs.FileMode{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[rel] = d.Type()
			return nil
		})
		return out, err
	}
	la, err := list(a)
	if err != nil {
		return false, err
	}
	lb, err := list(b)
	if err != nil {
		return false, err
	}
	if len(la) != len(lb) {
		return false, nil
	}
	for rel, ta := range la {
		tb, ok := lb[rel]
		if !ok || ta != tb {
			return false, nil
		}
		pa, pb := filepath.Join(a, rel), filepath.Join(b, rel)
		switch {
		case ta&fs.ModeSymlink != 0:
			ra, err1 := os.Readlink(pa)
			rb, err2 := os.Readlink(pb)
			if err1 != nil || err2 != nil || ra != rb {
				return false, errors.Join(err1, err2)
			}
		case ta.IsRegular():
			if same, err := sameFile(pa, pb); err != nil || !same {
				return false, err
			}
		}
	}
	return true, nil
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
