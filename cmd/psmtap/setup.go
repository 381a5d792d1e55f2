package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/setup"
)

func setupCommand() *cli.Command {
	d := setup.DefaultOptions()
	return &cli.Command{
		Name:  "setup",
		Usage: "install the index templates, ILM policies and (with --kibana-url) the Kibana data views and dashboards",
		Description: "Installs, in this order: the ILM policy " + setup.Policy + " (rollover, then deletion after\n" +
			"--retention), the component templates " + setup.MappingsTemplate + " (an explicit mapping for\n" +
			"every record field) and " + setup.SettingsTemplate + ", and the index template " + setup.IndexTemplate + "\n" +
			"that makes " + setup.Pattern + " a data stream; then the same for activity events (--events):\n" +
			setup.ActivityPolicy + " (deletion after --activity-retention), " + setup.ActivityMappingsTemplate + ",\n" +
			setup.ActivitySettingsTemplate + " and " + setup.ActivityIndexTemplate + " for " + setup.ActivityPattern + "; and for alerts\n" +
			"(--rules): " + setup.AlertPolicy + " (deletion after --alert-retention), " + setup.AlertMappingsTemplate + ",\n" +
			setup.AlertSettingsTemplate + " and " + setup.AlertIndexTemplate + " for " + setup.AlertPattern + ".\n" +
			"Running it again updates them.\n" +
			"With --kibana-url it imports the data views and the dashboards (Overview, SSH, RDP, Cleartext,\n" +
			"Commands over time, Alerts).\n\n" +
			"Examples:\n" +
			"   psmtap setup --es-url https://es:9200 --es-ca-file ca.pem --kibana-url https://kibana:5601\n" +
			"   psmtap setup --print            # the request bodies, without a cluster",
		Flags: append(esConnFlags(),
			&cli.StringFlag{Name: "kibana-url", EnvVars: []string{"PSMTAP_KIBANA_URL"}, Usage: "also import the data view and dashboards into Kibana at `URL`"},
			&cli.StringFlag{Name: "rollover-age", Value: d.RolloverAge, Usage: "roll the data stream over after this long (Elasticsearch time units: 1d, 12h)"},
			&cli.StringFlag{Name: "rollover-size", Value: d.RolloverSize, Usage: "or when a primary shard reaches this size (50gb)"},
			&cli.StringFlag{Name: "retention", Value: d.Retention, Usage: "delete backing indices of session records this long after rollover; empty keeps them forever"},
			&cli.StringFlag{Name: "activity-retention", Value: d.ActivityRetention, Usage: "the same for activity events (logins, commands, files)"},
			&cli.StringFlag{Name: "alert-retention", Value: d.AlertRetention, Usage: "the same for alerts (few, and what an investigation starts from: kept longer)"},
			&cli.IntFlag{Name: "shards", Value: d.Shards, Usage: "primary shards per backing index"},
			&cli.IntFlag{Name: "replicas", Value: d.Replicas, Usage: "replicas per shard (-1: the cluster default)"},
			&cli.BoolFlag{Name: "print", Usage: "print what would be installed and exit"},
			&cli.StringFlag{Name: "log-level", Value: "info"},
		),
		Action: runSetup,
	}
}

func runSetup(c *cli.Context) error {
	o := setup.Options{RolloverAge: c.String("rollover-age"), RolloverSize: c.String("rollover-size"),
		Retention: c.String("retention"), ActivityRetention: c.String("activity-retention"), AlertRetention: c.String("alert-retention"), Shards: c.Int("shards"), Replicas: c.Int("replicas")}
	w := c.App.Writer
	if c.Bool("print") {
		paths, bodies := setup.Bodies(o)
		for _, p := range paths {
			b, _ := json.MarshalIndent(bodies[p], "", "  ")
			fmt.Fprintf(w, "PUT %s\n%s\n\n", p, b)
		}
		// And what --kibana-url imports: the data views and dashboards.
		fmt.Fprintf(w, "POST <kibana>/api/saved_objects/_import?overwrite=true (file psmtap.ndjson)\n%s", setup.KibanaObjects)
		return nil
	}
	cl, cfg, err := esClient(c, nil)
	if err != nil {
		return err
	}
	done, err := setup.Elasticsearch(c.Context, cl, o)
	for _, d := range done {
		fmt.Fprintln(w, d, "ok")
	}
	if err != nil {
		return cli.Exit("setup: "+err.Error(), 1)
	}
	if ku := c.String("kibana-url"); ku != "" {
		tlsCfg, err := es.TLSConfig(cfg)
		if err != nil {
			return cli.Exit("Kibana: "+err.Error(), 2)
		}
		hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
		res, err := setup.Kibana(c.Context, hc, ku, setup.KibanaAuth{Username: cfg.Username, Password: cfg.Password, APIKey: cfg.APIKey})
		if err != nil {
			return cli.Exit("setup: "+err.Error(), 1)
		}
		fmt.Fprintf(w, "Kibana: imported %d saved objects (data views %s, %s and %s; dashboards Overview, SSH, RDP, Cleartext, Commands over time, Alerts)\n",
			res.SuccessCount, setup.Pattern, setup.ActivityPattern, setup.AlertPattern)
	}
	return nil
}
