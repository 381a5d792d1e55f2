package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options say what period to report on and how.
type Options struct {
	Since, Until time.Time
	Loc          *time.Location // days and working hours are in this zone
	// Working hours: [WorkFrom, WorkTo) in minutes after midnight, on WorkDays
	// (indexed by time.Weekday). A session that starts outside them is an
	// off-hours session.
	WorkFrom, WorkTo int
	WorkDays         [7]bool
	Top              int       // longest list shown; the rest is counted, and the report says so
	Generated        time.Time // when the report was made
}

// DefaultOptions: the last 30 days to now, 07-19 Monday to Friday, UTC, 50 rows.
func DefaultOptions(now time.Time) Options {
	o := Options{Since: now.Add(-30 * 24 * time.Hour), Until: now, Loc: time.UTC, WorkFrom: 7 * 60, WorkTo: 19 * 60,
		Top: 50, Generated: now}
	for d := time.Monday; d <= time.Friday; d++ {
		o.WorkDays[d] = true
	}
	return o
}

// ParseWhen reads --since/--until: a duration back from now (30d, 2w, 12h,
// 90m), an RFC 3339 time, or a date or time without a zone, taken in loc.
func ParseWhen(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		if v, err := strconv.ParseFloat(s[:n-1], 64); err == nil && v >= 0 {
			unit := 24 * time.Hour
			if s[n-1] == 'w' {
				unit *= 7
			}
			return now.Add(-time.Duration(v * float64(unit))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: not a duration (30d, 2w, 12h), an RFC 3339 time or a date (2026-11-01)", s)
}

// ParseWorkHours reads "07-19" or "08:30-17:45": from (included) to (excluded).
func ParseWorkHours(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want FROM-TO, as 07-19 or 08:30-17:45", s)
	}
	if from, err = clock(a); err == nil {
		to, err = clock(b)
	}
	if err == nil && from >= to {
		err = fmt.Errorf("%q: the day starts before it ends", s)
	}
	return from, to, err
}

func clock(s string) (int, error) {
	h, m, _ := strings.Cut(strings.TrimSpace(s), ":")
	hh, err := strconv.Atoi(h)
	mm := 0
	if err == nil && m != "" {
		mm, err = strconv.Atoi(m)
	}
	if err != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("%q: not a time of day (HH or HH:MM)", s)
	}
	return hh*60 + mm, nil
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWorkDays reads "mon-fri", "mon,tue,thu", "sun-thu" (a range may wrap).
func ParseWorkDays(s string) ([7]bool, error) {
	var days [7]bool
	day := func(x string) (int, error) {
		x = strings.ToLower(strings.TrimSpace(x))
		for i, n := range dayNames {
			if len(x) >= 3 && strings.HasPrefix(n, x[:3]) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%q: not a day (mon, tue, ...)", x)
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		i, err := day(a)
		if err != nil {
			return days, err
		}
		j := i
		if isRange {
			if j, err = day(b); err != nil {
				return days, err
			}
		}
		for k := i; ; k = (k + 1) % 7 {
			days[k] = true
			if k == j {
				break
			}
		}
	}
	return days, nil
}

// WorkDaysString writes days back as names.
func (o *Options) WorkDaysString() string {
	var out []string
	for i, on := range o.WorkDays {
		if on {
			out = append(out, dayNames[i])
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// WorkHoursString writes the hours back as HH:MM-HH:MM.
func (o *Options) WorkHoursString() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", o.WorkFrom/60, o.WorkFrom%60, o.WorkTo/60, o.WorkTo%60)
}

// OffHours says whether t falls outside working hours.
func (o *Options) OffHours(t time.Time) bool {
	l := t.In(o.Loc)
	if !o.WorkDays[l.Weekday()] {
		return true
	}
	m := l.Hour()*60 + l.Minute()
	return m < o.WorkFrom || m >= o.WorkTo
}
