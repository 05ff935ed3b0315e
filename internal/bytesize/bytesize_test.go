package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		n    float64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{3 << 20, "3.0 MiB"},
		{2183168, "2.1 MiB"},
		{5 << 30, "5.0 GiB"},
		{1 << 62, "4.0 EiB"},
	} {
		if got := Format(tc.n); got != tc.want {
			t.Errorf("Format(%v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
