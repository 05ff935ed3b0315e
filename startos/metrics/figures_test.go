package metrics

import (
	"math"
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/startos-go/startos/startos/model"
)

func TestValueFormatting(t *testing.T) {
	tests := []struct {
		in   float64
		unit string
		want string
	}{
		{42, model.UnitPercent, "42.0"},
		{0, model.UnitPercent, "0.0"},
		{1234.56, model.UnitMebibyte, "1234.6"},
		{0.04, model.UnitGigabyte, "0.0"},
		{0.06, model.UnitGigabyte, "0.1"},
		{100, model.UnitPercent, "100.0"},
		{51.5, model.UnitCelsius, "51.5"},
		{1e6, model.UnitMebibyte, "1000000.0"},
		{math.Copysign(0, -1), model.UnitPercent, "0.0"},
		{-0.01, model.UnitPercent, "0.0"},
		{math.NaN(), model.UnitPercent, "0.0"},
		{math.Inf(1), model.UnitPercent, "0.0"},
	}
	for _, tt := range tests {
		got := value(tt.in, tt.unit)
		if got.Value != tt.want || got.Unit != tt.unit {
			t.Errorf("value(%v, %q) = %+v, want {%s %s}", tt.in, tt.unit, got, tt.want, tt.unit)
		}
		if f, err := got.Float(); err != nil {
			t.Errorf("Float of %+v: %v", got, err)
		} else if math.Abs(f-tt.in) > 0.05 && !math.IsNaN(tt.in) && !math.IsInf(tt.in, 0) {
			t.Errorf("Float of %+v = %v, want about %v", got, f, tt.in)
		}
	}
	if _, err := (model.MetricValue{Value: "n/a", Unit: "%"}).Float(); err == nil {
		t.Error("Float of a non-number: no error")
	}
}

func TestCPUSplit(t *testing.T) {
	type split struct{ used, idle, user, kernel, wait string }
	tests := []struct {
		name      string
		prev, cur cpu.TimesStat
		want      split
		ok        bool
	}{
		{
			name: "plain",
			cur:  cpu.TimesStat{User: 10, System: 5, Idle: 80, Iowait: 5},
			want: split{"15.0", "80.0", "10.0", "5.0", "5.0"}, ok: true,
		},
		{
			name: "nice is user, irq and softirq are kernel",
			cur:  cpu.TimesStat{User: 6, Nice: 4, System: 2, Irq: 1, Softirq: 2, Idle: 85},
			want: split{"15.0", "85.0", "10.0", "5.0", "0.0"}, ok: true,
		},
		{
			name: "guest time is inside user and not counted twice",
			cur:  cpu.TimesStat{User: 20, Guest: 10, Nice: 5, GuestNice: 5, Idle: 75},
			want: split{"25.0", "75.0", "25.0", "0.0", "0.0"}, ok: true,
		},
		{
			name: "steal is used but in no other leaf",
			cur:  cpu.TimesStat{User: 10, Steal: 10, Idle: 80},
			want: split{"20.0", "80.0", "10.0", "0.0", "0.0"}, ok: true,
		},
		{
			name: "interval between two non-zero readings",
			prev: cpu.TimesStat{User: 100, System: 50, Idle: 1000, Iowait: 7},
			cur:  cpu.TimesStat{User: 130, System: 60, Idle: 1060, Iowait: 7},
			want: split{"40.0", "60.0", "30.0", "10.0", "0.0"}, ok: true,
		},
		{
			name: "iowait going backwards counts as zero",
			prev: cpu.TimesStat{User: 10, Idle: 10, Iowait: 10},
			cur:  cpu.TimesStat{User: 60, Idle: 60, Iowait: 5},
			want: split{"50.0", "50.0", "50.0", "0.0", "0.0"}, ok: true,
		},
		{
			name: "thirds round to one decimal",
			cur:  cpu.TimesStat{User: 0.01, Idle: 0.02},
			want: split{"33.3", "66.7", "33.3", "0.0", "0.0"}, ok: true,
		},
		{
			name: "fully busy in the kernel",
			prev: cpu.TimesStat{System: 3, Idle: 9},
			cur:  cpu.TimesStat{System: 5, Idle: 9},
			want: split{"100.0", "0.0", "0.0", "100.0", "0.0"}, ok: true,
		},
		{
			name: "no time passed",
			prev: cpu.TimesStat{User: 5, Idle: 5},
			cur:  cpu.TimesStat{User: 5, Idle: 5},
			ok:   false,
		},
		{
			name: "every counter went backwards",
			prev: cpu.TimesStat{User: 5, Idle: 5},
			cur:  cpu.TimesStat{User: 1, Idle: 1},
			ok:   false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuSplit(tt.prev, tt.cur)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			gotSplit := split{got.PercentageUsed.Value, got.Idle.Value, got.UserSpace.Value, got.KernelSpace.Value, got.Wait.Value}
			if gotSplit != tt.want {
				t.Errorf("split = %+v, want %+v", gotSplit, tt.want)
			}
			for _, v := range []model.MetricValue{got.PercentageUsed, got.Idle, got.UserSpace, got.KernelSpace, got.Wait} {
				if v.Unit != model.UnitPercent {
					t.Errorf("unit %q, want %%", v.Unit)
				}
			}
		})
	}
}

func TestMemoryFigures(t *testing.T) {
	tests := []struct {
		name string
		vm   mem.VirtualMemoryStat
		z    zram
		want model.MetricsMemory
	}{
		{
			name: "ram and zram",
			vm:   mem.VirtualMemoryStat{Total: 8 << 30, Available: 2 << 30, Used: 1 << 30},
			z:    zram{total: 1 << 30, used: 256 << 20},
			want: model.MetricsMemory{
				PercentageUsed: model.MetricValue{Value: "75.0", Unit: "%"},
				Total:          model.MetricValue{Value: "8192.0", Unit: "MiB"},
				Available:      model.MetricValue{Value: "2048.0", Unit: "MiB"},
				Used:           model.MetricValue{Value: "6144.0", Unit: "MiB"},
				ZramTotal:      model.MetricValue{Value: "1024.0", Unit: "MiB"},
				ZramAvailable:  model.MetricValue{Value: "768.0", Unit: "MiB"},
				ZramUsed:       model.MetricValue{Value: "256.0", Unit: "MiB"},
			},
		},
		{
			name: "no zram, available above total is clamped",
			vm:   mem.VirtualMemoryStat{Total: 1 << 30, Available: 2 << 30},
			want: model.MetricsMemory{
				PercentageUsed: model.MetricValue{Value: "0.0", Unit: "%"},
				Total:          model.MetricValue{Value: "1024.0", Unit: "MiB"},
				Available:      model.MetricValue{Value: "1024.0", Unit: "MiB"},
				Used:           model.MetricValue{Value: "0.0", Unit: "MiB"},
				ZramTotal:      model.MetricValue{Value: "0.0", Unit: "MiB"},
				ZramAvailable:  model.MetricValue{Value: "0.0", Unit: "MiB"},
				ZramUsed:       model.MetricValue{Value: "0.0", Unit: "MiB"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memoryFigures(&tt.vm, tt.z); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDiskFigures(t *testing.T) {
	tests := []struct {
		name string
		u    disk.UsageStat
		want model.MetricsDisk
	}{
		{
			name: "root reserve: percentage of used+available, as df",
			u:    disk.UsageStat{Total: 100e9, Used: 40e9, Free: 50e9},
			want: model.MetricsDisk{
				PercentageUsed: model.MetricValue{Value: "44.4", Unit: "%"},
				Used:           model.MetricValue{Value: "40.0", Unit: "GB"},
				Available:      model.MetricValue{Value: "50.0", Unit: "GB"},
				Capacity:       model.MetricValue{Value: "100.0", Unit: "GB"},
			},
		},
		{
			name: "empty filesystem",
			want: model.MetricsDisk{
				PercentageUsed: model.MetricValue{Value: "0.0", Unit: "%"},
				Used:           model.MetricValue{Value: "0.0", Unit: "GB"},
				Available:      model.MetricValue{Value: "0.0", Unit: "GB"},
				Capacity:       model.MetricValue{Value: "0.0", Unit: "GB"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diskFigures(&tt.u); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
