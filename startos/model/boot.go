package model

import (
	"os"
	"strings"
	"sync"
)

// BootID is the kernel's id of this boot (/proc/sys/kernel/random/boot_id),
// which StartOS's log entries carry as bootId; empty where there is none.
var BootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})
