package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Colours of the protocols in the charts; others take the grey.
var protoColour = map[string]string{"ssh": "#4e79a7", "rdp": "#f28e2b", "telnet": "#e15759", "ftp": "#76b7b2",
	"rlogin": "#59a14f", "rsh": "#b07aa1", "postgresql": "#9c755f", "mysql": "#edc948"}

func colour(p string) string {
	if c, ok := protoColour[p]; ok {
		return c
	}
	return "#8c8c8c"
}

// series is one stacked layer of a bar chart.
type series struct {
	name   string
	colour string
	values []int
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
func niceMax(v int) int {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(float64(v))))
	for _, m := range []float64{1, 2, 5, 10} {
		if float64(v) <= m*p {
			return int(m * p)
		}
	}
	return v
}

// barChart draws stacked bars, one per bucket, as inline SVG: no script,
// no font or style from outside. Every label is escaped. A chart with
// nothing to draw is not drawn: the caller says "none" instead.
func barChart(title string, labels []string, ss []series, bucketDays int) template.HTML {
	const W, H, left, right, top, bottom = 1240, 200, 48, 12, 10, 34
	n := len(labels)
	if n == 0 {
		return ""
	}
	totals := make([]int, n)
	max := 0
	for _, s := range ss {
		for i, v := range s.values {
			totals[i] += v
			if totals[i] > max {
				max = totals[i]
			}
		}
	}
	ymax := niceMax(max)
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	bw := pw / float64(n)
	gap := math.Min(2, bw*0.2)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		W, H, W, H, html.EscapeString(title))
	// Grid and y axis: 0, half, max.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(top) + ph*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd" stroke-width="1"/>`, left, y, W-right, y)
		v := float64(ymax) * f
		lbl := fmt.Sprintf("%g", v)
		if v != math.Trunc(v) {
			lbl = fmt.Sprintf("%.1f", v)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" class="ax">%s</text>`, left-6, y+4, lbl)
	}
	for i := 0; i < n; i++ {
		x := float64(left) + bw*float64(i) + gap/2
		base := float64(top) + ph
		for _, s := range ss {
			v := s.values[i]
			if v == 0 {
				continue
			}
			h := ph * float64(v) / float64(ymax)
			base -= h
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s %s: %d</title></rect>`,
				x, base, bw-gap, h, s.colour, html.EscapeString(labels[i]), html.EscapeString(s.name), v)
		}
	}
	// x labels: about ten, the last always.
	step := (n + 9) / 10
	label := func(i int) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="ax">%s</text>`,
			float64(left)+bw*(float64(i)+0.5), H-bottom+16, html.EscapeString(labels[i]))
	}
	for i := 0; i < n-1; i += step {
		if i == 0 || n-1-i >= (step+1)/2 {
			label(i)
		}
	}
	label(n - 1)
	unit := "per day"
	if bucketDays > 1 {
		unit = fmt.Sprintf("per %d days", bucketDays)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="ax">%s</text>`, left, H-4, html.EscapeString(unit))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
