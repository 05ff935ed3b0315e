package install

import (
	"io/fs"
	"syscall"
)

type owner struct{ uid, gid int }

// sysOwner returns a file's owner, so a snapshot keeps the ids a service's
// files were written with.
func sysOwner(info fs.FileInfo) (owner, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, false
	}
	return owner{int(st.Uid), int(st.Gid)}, true
}
