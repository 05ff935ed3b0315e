package metrics

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

func TestTemperature(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // under a fake /sys
		want  string            // "" for no temperature
	}{
		{
			name: "hottest core of coretemp; the disk is not the CPU",
			files: map[string]string{
				"class/hwmon/hwmon0/name":        "coretemp\n",
				"class/hwmon/hwmon0/temp1_input": "45000\n",
				"class/hwmon/hwmon0/temp2_input": "51500\n",
				"class/hwmon/hwmon1/name":        "nvme\n",
				"class/hwmon/hwmon1/temp1_input": "60000\n",
			},
			want: "51.5",
		},
		{
			name: "hwmon files under device/",
			files: map[string]string{
				"class/hwmon/hwmon3/device/name":        "k10temp\n",
				"class/hwmon/hwmon3/device/temp1_input": "61300\n",
			},
			want: "61.3",
		},
		{
			name: "hwmon wins over thermal zones",
			files: map[string]string{
				"class/hwmon/hwmon0/name":               "cpu_thermal\n",
				"class/hwmon/hwmon0/temp1_input":        "47000\n",
				"class/thermal/thermal_zone0/type":      "x86_pkg_temp\n",
				"class/thermal/thermal_zone0/temp":      "99000\n",
				"class/thermal/thermal_zone1/type":      "acpitz\n",
				"class/thermal/thermal_zone1/temp":      "30000\n",
				"class/hwmon/hwmon1/name":               "acpitz\n",
				"class/hwmon/hwmon1/temp1_input":        "88000\n",
				"class/hwmon/hwmon2/name":               "drivetemp\n",
				"class/hwmon/hwmon2/temp1_input":        "70000\n",
				"class/hwmon/hwmon2/device/temp1_input": "70000\n",
			},
			want: "47.0",
		},
		{
			name: "thermal zones when hwmon has no CPU sensor (Raspberry Pi without hwmon)",
			files: map[string]string{
				"class/hwmon/hwmon0/name":          "nvme\n",
				"class/hwmon/hwmon0/temp1_input":   "40000\n",
				"class/thermal/thermal_zone0/type": "cpu-thermal\n",
				"class/thermal/thermal_zone0/temp": "48312\n",
				"class/thermal/thermal_zone1/type": "acpitz\n",
				"class/thermal/thermal_zone1/temp": "70000\n",
			},
			want: "48.3",
		},
		{
			name: "implausible readings are ignored",
			files: map[string]string{
				"class/hwmon/hwmon0/name":        "coretemp\n",
				"class/hwmon/hwmon0/temp1_input": "0\n",
				"class/hwmon/hwmon0/temp2_input": "255000\n",
				"class/hwmon/hwmon0/temp3_input": "-5000\n",
			},
			want: "",
		},
		{
			name:  "no sensors at all",
			files: map[string]string{"class/hwmon/.keep": ""},
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			writeTree(t, sys, tt.files)
			h := newHost("", sys)
			h.discover()
			c, ok, err := h.temperature(context.Background())
			if err != nil {
				t.Fatalf("temperature: %v", err)
			}
			got := temperatureFigure(c, ok)
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("temperature = %+v, want none", *got)
			case tt.want != "" && got == nil:
				t.Errorf("temperature = none, want %s", tt.want)
			case tt.want != "" && (got.Value != tt.want || got.Unit != "°C"):
				t.Errorf("temperature = %+v, want %s °C", *got, tt.want)
			}
		})
	}
}

func TestTemperatureSensorGone(t *testing.T) {
	sys := t.TempDir()
	writeTree(t, sys, map[string]string{
		"class/hwmon/hwmon0/name":        "coretemp\n",
		"class/hwmon/hwmon0/temp1_input": "45000\n",
	})
	h := newHost("", sys)
	h.discover()
	if err := os.RemoveAll(filepath.Join(sys, "class/hwmon/hwmon0")); err != nil {
		t.Fatal(err)
	}
	_, ok, err := h.temperature(context.Background())
	if err == nil || ok {
		t.Fatalf("temperature of a removed sensor: ok=%v err=%v, want an error", ok, err)
	}
	if !strings.Contains(err.Error(), "temp1_input") {
		t.Errorf("error %q does not name the file", err)
	}
	h.discover()
	if _, ok, err := h.temperature(context.Background()); err != nil || ok {
		t.Errorf("after rediscovery: ok=%v err=%v, want no sensor and no error", ok, err)
	}
}

func TestZramUsage(t *testing.T) {
	sys := t.TempDir()
	writeTree(t, sys, map[string]string{
		// 1 GiB device holding 256 MiB (compressed to 64 MiB).
		"block/zram0/disksize": "1073741824\n",
		"block/zram0/mm_stat":  " 268435456 67108864 70000000        0 80000000        0        0        0        0\n",
		// Not initialised: no size, not counted.
		"block/zram1/disksize": "0\n",
		"block/zram1/mm_stat":  "0 0 0 0 0 0 0 0 0\n",
		// An old kernel without mm_stat.
		"block/zram2/disksize":       "536870912\n",
		"block/zram2/orig_data_size": "134217728\n",
		"block/vda/size":             "123\n",
	})
	h := newHost("", sys)
	h.discover()
	z := h.zramUsage(context.Background())
	if want := (zram{total: 1536 << 20, used: 384 << 20}); z != want {
		t.Errorf("zram = %+v, want %+v", z, want)
	}

	none := newHost("", t.TempDir())
	none.discover()
	if z := none.zramUsage(context.Background()); z != (zram{}) {
		t.Errorf("zram without devices = %+v, want zeros", z)
	}
}

const meminfo = `MemTotal:        8000000 kB
MemFree:         1000000 kB
MemAvailable:    3000000 kB
Buffers:          100000 kB
Cached:          2000000 kB
SwapCached:            0 kB
Active:          3000000 kB
Inactive:        2000000 kB
SwapTotal:       1048576 kB
SwapFree:         786432 kB
Shmem:             50000 kB
SReclaimable:     200000 kB
`

// TestSampleFromFakeHost runs the collector over a fake /proc and /sys (the
// way a containerised daemon reads the host's) and checks the whole document
// a client receives.
func TestSampleFromFakeHost(t *testing.T) {
	root := t.TempDir()
	proc, sys := filepath.Join(root, "proc"), filepath.Join(root, "sys")
	writeTree(t, root, map[string]string{
		"proc/stat":                          "cpu  1000 100 500 8000 200 50 50 0 0 0\ncpu0 1000 100 500 8000 200 50 50 0 0 0\n",
		"proc/meminfo":                       meminfo,
		"sys/class/hwmon/hwmon0/name":        "k10temp\n",
		"sys/class/hwmon/hwmon0/temp1_input": "55125\n",
		"sys/class/hwmon/hwmon0/temp3_input": "57750\n",
		"sys/block/zram0/disksize":           "1073741824\n",
		"sys/block/zram0/mm_stat":            "268435456 67108864 70000000 0 80000000 0 0 0 0\n",
	})
	s, err := New(Options{DataDir: root, HostProc: proc, HostSys: sys})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)

	c := &collector{s: s, diskDone: make(chan diskResult, 1), errs: map[string]string{},
		disk: diskFigures(&disk.UsageStat{Total: 250e9, Used: 60e9, Free: 177.5e9})}
	s.host.discover()
	c.readBaseline()
	if !c.havePrev {
		t.Fatalf("no CPU baseline from the fake /proc/stat")
	}
	if _, ok := c.sample(time.Now()); ok {
		t.Fatal("a sample with no CPU time passed was published")
	}
	// 1000 ticks later: user+nice 300, system+irq+softirq 100, idle 550, iowait 50.
	writeTree(t, root, map[string]string{
		"proc/stat": "cpu  1250 150 580 8550 250 60 60 0 0 0\ncpu0 1250 150 580 8550 250 60 60 0 0 0\n",
	})
	at := time.Date(2025, 3, 1, 12, 0, 4, 0, time.UTC)
	m, ok := c.sample(at)
	if !ok {
		t.Fatalf("no sample; reported errors: %v", c.errs)
	}
	got, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if want := readGolden(t, "sample.golden.json", got); string(got) != string(want) {
		t.Errorf("sample differs from testdata/sample.golden.json:\ngot:\n%s\nwant:\n%s", got, want)
	}

	// Without a sensor the temperature is null, not zero.
	if err := os.RemoveAll(filepath.Join(sys, "class")); err != nil {
		t.Fatal(err)
	}
	s.host.discover()
	writeTree(t, root, map[string]string{
		"proc/stat": "cpu  1350 150 580 8650 250 60 60 0 0 0\n",
	})
	m, ok = c.sample(at.Add(4 * time.Second))
	if !ok {
		t.Fatal("no sample")
	}
	b, _ := json.Marshal(m.General)
	if string(b) != `{"temperature":null}` {
		t.Errorf("general without sensors = %s, want temperature null", b)
	}
}

func TestUnreadableProcSkipsSample(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"proc/meminfo": meminfo})
	log := &logBuffer{}
	s, err := New(Options{DataDir: root, HostProc: filepath.Join(root, "proc"), HostSys: root, Logger: newTestLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)
	c := &collector{s: s, diskDone: make(chan diskResult, 1), errs: map[string]string{}}
	for range 3 {
		c.readBaseline()
		if _, ok := c.sample(time.Now()); ok {
			t.Fatal("published a sample without /proc/stat")
		}
	}
	if n := log.Count("source=cpu"); n != 1 {
		t.Errorf("the missing /proc/stat was reported %d times, want once:\n%s", n, log)
	}
	writeTree(t, root, map[string]string{"proc/stat": "cpu  1 0 1 8 0 0 0 0 0 0\n"})
	c.sample(time.Now())
	if !strings.Contains(log.String(), "figure readable again") {
		t.Errorf("recovery not logged:\n%s", log)
	}
}
