package model

import (
	"fmt"
	"strconv"
	"time"
)

// Units of a MetricValue, spelled as StartOS spells them.
const (
	UnitCelsius  = "°C"
	UnitPercent  = "%"
	UnitMebibyte = "MiB" // 2^20 bytes
	UnitGigabyte = "GB"  // 10^9 bytes
)

// MetricValue is one figure of server.metrics: the number formatted with one
// decimal ("42.0") and its unit, the shape StartOS clients parse.
type MetricValue struct {
	Value string `json:"value"`
	Unit  string `json:"unit"`
}

// Float returns Value as a number, for clients that plot or compare figures.
func (v MetricValue) Float() (float64, error) {
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil {
		return 0, fmt.Errorf("metric value %q (%s) is not a number", v.Value, v.Unit)
	}
	return f, nil
}

// Metrics is the result of server.metrics and each value of
// server.metrics.follow: the server's load, sampled in the background.
type Metrics struct {
	General MetricsGeneral `json:"general"`
	Memory  MetricsMemory  `json:"memory"`
	CPU     MetricsCPU     `json:"cpu"`
	Disk    MetricsDisk    `json:"disk"`
	// SampledAt is when CPU and memory were read; disk figures are refreshed
	// less often and may be older.
	SampledAt time.Time `json:"sampledAt"`
}

// MetricsGeneral holds the figures that belong to no other group.
type MetricsGeneral struct {
	// Temperature is the hottest CPU sensor in °C; null when the machine
	// reports none.
	Temperature *MetricValue `json:"temperature"`
}

// MetricsMemory is RAM and zram swap, in MiB (percentageUsed in %).
type MetricsMemory struct {
	PercentageUsed MetricValue `json:"percentageUsed"`
	Total          MetricValue `json:"total"`
	Available      MetricValue `json:"available"`
	Used           MetricValue `json:"used"`
	ZramTotal      MetricValue `json:"zramTotal"`
	ZramAvailable  MetricValue `json:"zramAvailable"`
	ZramUsed       MetricValue `json:"zramUsed"`
}

// MetricsCPU is the share of CPU time over the last sampling interval, in %.
// userSpace + kernelSpace + wait + idle (+ time stolen by a hypervisor) make
// 100; percentageUsed is everything but idle and wait.
type MetricsCPU struct {
	PercentageUsed MetricValue `json:"percentageUsed"`
	Idle           MetricValue `json:"idle"`
	UserSpace      MetricValue `json:"userSpace"`
	KernelSpace    MetricValue `json:"kernelSpace"`
	Wait           MetricValue `json:"wait"`
}

// MetricsDisk is the filesystem holding the data folder, in GB
// (percentageUsed in %, of the space usable without root's reserve, as df).
type MetricsDisk struct {
	PercentageUsed MetricValue `json:"percentageUsed"`
	Used           MetricValue `json:"used"`
	Available      MetricValue `json:"available"`
	Capacity       MetricValue `json:"capacity"`
}
