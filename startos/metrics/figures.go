package metrics

import (
	"math"
	"strconv"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/startos-go/startos/startos/model"
)

const (
	mebibyte = 1 << 20
	gigabyte = 1e9
)

// value formats f the way StartOS does: one decimal. NaN and infinities,
// which only a broken counter could produce, read as 0.
func value(f float64, unit string) model.MetricValue {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if s == "-0.0" { // -0 or a tiny negative rounding error
		s = "0.0"
	}
	return model.MetricValue{Value: s, Unit: unit}
}

func percent(part, whole float64) model.MetricValue {
	if whole <= 0 {
		return value(0, model.UnitPercent)
	}
	return value(100*part/whole, model.UnitPercent)
}

// cpuSplit turns two readings of the aggregate CPU counters into the share of
// each kind of time over the interval between them. Guest time is already in
// User and Nice, so it is not added again. A counter that went backwards
// (iowait can, CPUs can go offline) counts as 0. ok is false when no time
// passed, so the caller keeps its old baseline.
func cpuSplit(prev, cur cpu.TimesStat) (model.MetricsCPU, bool) {
	d := func(a, b float64) float64 { return max(b-a, 0) }
	user := d(prev.User, cur.User) + d(prev.Nice, cur.Nice)
	kernel := d(prev.System, cur.System) + d(prev.Irq, cur.Irq) + d(prev.Softirq, cur.Softirq)
	idle := d(prev.Idle, cur.Idle)
	wait := d(prev.Iowait, cur.Iowait)
	steal := d(prev.Steal, cur.Steal)
	total := user + kernel + idle + wait + steal
	if total <= 0 {
		return model.MetricsCPU{}, false
	}
	return model.MetricsCPU{
		PercentageUsed: percent(user+kernel+steal, total),
		Idle:           percent(idle, total),
		UserSpace:      percent(user, total),
		KernelSpace:    percent(kernel, total),
		Wait:           percent(wait, total),
	}, true
}

// zram is the swap held in compressed RAM, in bytes: the devices' sizes and
// the (uncompressed) data stored in them, as swap tools count it.
type zram struct{ total, used uint64 }

// memoryFigures follows StartOS: used is total minus available (what the
// kernel could hand out without swapping), not gopsutil's Used.
func memoryFigures(vm *mem.VirtualMemoryStat, z zram) model.MetricsMemory {
	total := float64(vm.Total)
	avail := float64(min(vm.Available, vm.Total))
	used := total - avail
	zUsed := min(z.used, z.total)
	return model.MetricsMemory{
		PercentageUsed: percent(used, total),
		Total:          value(total/mebibyte, model.UnitMebibyte),
		Available:      value(avail/mebibyte, model.UnitMebibyte),
		Used:           value(used/mebibyte, model.UnitMebibyte),
		ZramTotal:      value(float64(z.total)/mebibyte, model.UnitMebibyte),
		ZramAvailable:  value(float64(z.total-zUsed)/mebibyte, model.UnitMebibyte),
		ZramUsed:       value(float64(zUsed)/mebibyte, model.UnitMebibyte),
	}
}

// diskFigures reports the filesystem as df does: used and available do not
// add up to the capacity when blocks are reserved for root, and the
// percentage is of used + available.
func diskFigures(u *disk.UsageStat) model.MetricsDisk {
	return model.MetricsDisk{
		PercentageUsed: percent(float64(u.Used), float64(u.Used+u.Free)),
		Used:           value(float64(u.Used)/gigabyte, model.UnitGigabyte),
		Available:      value(float64(u.Free)/gigabyte, model.UnitGigabyte),
		Capacity:       value(float64(u.Total)/gigabyte, model.UnitGigabyte),
	}
}

func temperatureFigure(celsius float64, ok bool) *model.MetricValue {
	if !ok {
		return nil
	}
	v := value(celsius, model.UnitCelsius)
	return &v
}
