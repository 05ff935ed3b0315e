package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"
)

// host reads the machine: gopsutil for /proc and statfs, and a few sysfs
// files of its own for zram and temperature. Where those files live is found
// by discover, rarely, so that a sample costs a handful of reads.
//
// A host is used by one goroutine at a time.
type host struct {
	env  common.EnvMap // gopsutil's roots; nil for its defaults
	sys  string        // sysfs root
	zram []string      // /sys/block/zram* folders
	temp []string      // temperature inputs of CPU sensors, millidegrees Celsius
}

func newHost(proc, sys string) *host {
	h := &host{sys: sys}
	if proc != "" || sys != "" {
		h.env = common.EnvMap{}
		if proc != "" {
			h.env[common.HostProcEnvKey] = proc
		}
		if sys != "" {
			h.env[common.HostSysEnvKey] = sys
		}
	}
	// The same fallback gopsutil uses, so both read the same tree.
	if h.sys == "" {
		h.sys = os.Getenv("HOST_SYS")
	}
	if h.sys == "" {
		h.sys = "/sys"
	}
	return h
}

func (h *host) context(ctx context.Context) context.Context {
	if h.env == nil {
		return ctx
	}
	return context.WithValue(ctx, common.EnvKey, h.env)
}

// cpuTimes reads the aggregate CPU counters.
func (h *host) cpuTimes(ctx context.Context) (cpu.TimesStat, error) {
	ts, err := cpu.TimesWithContext(h.context(ctx), false)
	if err != nil {
		return cpu.TimesStat{}, fmt.Errorf("read CPU times: %w", err)
	}
	// gopsutil answers an unreadable /proc/stat with an empty list.
	if len(ts) == 0 {
		return cpu.TimesStat{}, errors.New("read CPU times: no cpu line in stat")
	}
	return ts[0], nil
}

func (h *host) memory(ctx context.Context) (*mem.VirtualMemoryStat, error) {
	vm, err := mem.VirtualMemoryWithContext(h.context(ctx))
	if err != nil {
		return nil, fmt.Errorf("read memory: %w", err)
	}
	if vm.Total == 0 {
		return nil, errors.New("read memory: meminfo reports no MemTotal")
	}
	return vm, nil
}

func diskUsage(ctx context.Context, dir string) (*disk.UsageStat, error) {
	u, err := disk.UsageWithContext(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("disk usage of %s: %w", dir, err)
	}
	return u, nil
}

// discover finds the zram devices and the CPU temperature sensors.
func (h *host) discover() {
	h.zram, _ = filepath.Glob(filepath.Join(h.sys, "block", "zram*"))
	h.temp = h.findSensors()
}

// cpuSensorPrefixes name the sensors that measure the CPU or the SoC it is on:
// hwmon drivers (coretemp, k10temp, zenpower, cpu_thermal on a Raspberry Pi)
// and thermal zone types (x86_pkg_temp, cpu-thermal, soc_thermal, soc_dts0).
// Disks, chipsets and ACPI zones are left out: a hot disk is not a hot CPU.
var cpuSensorPrefixes = []string{"coretemp", "k10temp", "zenpower", "x86_pkg_temp", "cpu", "soc"}

func cpuSensor(name string) bool {
	name = strings.ToLower(name)
	for _, p := range cpuSensorPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// findSensors prefers hwmon, which has one input per core; thermal zones are
// read only when hwmon has no CPU sensor (boards without hwmon drivers).
func (h *host) findSensors() []string {
	var inputs []string
	chips, _ := filepath.Glob(filepath.Join(h.sys, "class", "hwmon", "hwmon*"))
	for _, chip := range chips {
		// Some kernels put the chip's files under device/.
		for _, dir := range []string{chip, filepath.Join(chip, "device")} {
			name, err := os.ReadFile(filepath.Join(dir, "name"))
			if err != nil || !cpuSensor(string(bytes.TrimSpace(name))) {
				continue
			}
			files, _ := filepath.Glob(filepath.Join(dir, "temp*_input"))
			inputs = append(inputs, files...)
		}
	}
	if len(inputs) > 0 {
		return inputs
	}
	zones, _ := filepath.Glob(filepath.Join(h.sys, "class", "thermal", "thermal_zone*"))
	for _, zone := range zones {
		kind, err := os.ReadFile(filepath.Join(zone, "type"))
		if err == nil && cpuSensor(string(bytes.TrimSpace(kind))) {
			inputs = append(inputs, filepath.Join(zone, "temp"))
		}
	}
	return inputs
}

// plausible bounds a CPU reading in °C; sensors that are off or broken report
// 0, negative numbers or 255 and more.
const minCelsius, maxCelsius = 0, 150

// temperature is the hottest CPU sensor. ok is false when the machine has no
// CPU sensor or none gave a plausible reading; err is set only when there
// were sensors and every one failed to read, so the caller looks again.
func (h *host) temperature(ctx context.Context) (celsius float64, ok bool, err error) {
	var failed int
	var firstErr error
	for _, f := range h.temp {
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("read temperature: %w", ctx.Err())
		}
		milli, err := readInt(f)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c := float64(milli) / 1000
		if c <= minCelsius || c >= maxCelsius {
			continue
		}
		if !ok || c > celsius {
			celsius, ok = c, true
		}
	}
	if len(h.temp) > 0 && failed == len(h.temp) {
		return 0, false, fmt.Errorf("read temperature: %w", firstErr)
	}
	return celsius, ok, nil
}

// zramUsage adds up the initialised zram devices. A device that cannot be read
// (removed since discover) is left out rather than failing the sample.
func (h *host) zramUsage(ctx context.Context) zram {
	var z zram
	for _, dev := range h.zram {
		if ctx.Err() != nil {
			break
		}
		size, err := readInt(filepath.Join(dev, "disksize"))
		if err != nil || size <= 0 {
			continue
		}
		used, err := zramStored(dev)
		if err != nil {
			continue
		}
		z.total += uint64(size)
		z.used += min(used, uint64(size))
	}
	return z
}

// zramStored is the uncompressed size of the data in a zram device: the first
// field of mm_stat (Linux 4.1+), or orig_data_size on older kernels.
func zramStored(dev string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dev, "mm_stat"))
	if errors.Is(err, os.ErrNotExist) {
		n, err := readInt(filepath.Join(dev, "orig_data_size"))
		return uint64(max(n, 0)), err
	}
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s: empty mm_stat", dev)
	}
	n, err := strconv.ParseUint(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: mm_stat: %w", dev, err)
	}
	return n, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
