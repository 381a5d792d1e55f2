package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/internal/rules"
)

func rulesCommand() *cli.Command {
	return &cli.Command{
		Name:  "rules",
		Usage: "check Sigma rule files, or list the rules psmtap would run",
		Description: "Rules are Sigma rules (logsource.product: psmtap) on activity events (logsource.category:\n" +
			"login, command, file, session_kind, security) and session records (category: session).\n" +
			"\"builtin\" names the rules shipped with psmtap.\n\n" +
			"Examples:\n" +
			"   psmtap rules check my-rules/\n" +
			"   psmtap rules list --rules builtin --rules my-rules/\n" +
			"   psmtap read --rules builtin --format table capture.pcap",
		Subcommands: []*cli.Command{
			{
				Name:      "check",
				Usage:     "load rule files and directories; print file:line: problem and exit 1 for a bad one",
				ArgsUsage: "PATH...",
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return cli.Exit("rules check: name at least one rule file or directory (or builtin)", 2)
					}
					set, err := rules.Load(c.Args().Slice())
					if err != nil {
						return cli.Exit(err.Error(), 1)
					}
					fmt.Fprintf(c.App.Writer, "%d rules OK\n", len(set.Rules()))
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the rules: the shipped ones, or those of --rules",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "rules", Usage: "rule files or directories (`PATH`; default: builtin)"},
				},
				Action: func(c *cli.Context) error {
					paths := c.StringSlice("rules")
					if len(paths) == 0 {
						paths = []string{rules.Builtin}
					}
					set, err := rules.Load(paths)
					if err != nil {
						return cli.Exit(err.Error(), 1)
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
					fmt.Fprintln(w, "LEVEL\tLOOKS AT\tRULESET\tRESPONSE\tTITLE")
					for _, r := range set.Rules() {
						at := r.Logsource.Category
						if r.IsCorrelation() {
							at = r.Correlation.Type
						}
						resp := strings.Join(r.Response, ",")
						if resp == "" {
							resp = "-"
						}
						level := r.Level
						if level == "" {
							level = "medium"
						}
						// Rule files are the operator's, but a terminal obeys any file.
						e := index.Escape
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e(level), e(at), e(r.Ruleset), e(resp), e(r.Title))
					}
					return w.Flush()
				},
			},
		},
	}
}
