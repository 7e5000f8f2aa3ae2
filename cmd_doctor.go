package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/config"
	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/hub"
	"github.com/impetus-llm/impetus/mlx"
	"github.com/impetus-llm/impetus/store"
)

func init() { registerCommand(newDoctorCommand) }

// doctorPath is a path impetus uses and whether it is there.
type doctorPath struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
}

type doctorDB struct {
	doctorPath
	SizeBytes           int64 `json:"size_bytes,omitempty"`
	SchemaVersion       int   `json:"schema_version"`
	LatestSchemaVersion int   `json:"latest_schema_version"`
	Conversations       int   `json:"conversations"`
	Archived            int   `json:"archived"`
	Messages            int   `json:"messages"`
	Incomplete          int   `json:"incomplete_messages"` // streaming now or cut off by a crash
	// Integrity is "ok", a problem, or "" when not checked (doctor --check).
	Integrity string `json:"integrity,omitempty"`
	Error     string `json:"error,omitempty"`
}

type doctorBackend struct {
	Name       string `json:"name"`
	Available  bool   `json:"available"`
	Registered bool   `json:"registered"` // selectable with --backend in this build
	Detail     string `json:"detail"`
}

type doctorReport struct {
	Version      string          `json:"version"`
	Go           string          `json:"go"`
	OS           string          `json:"os"`
	Arch         string          `json:"arch"`
	CPUs         int             `json:"cpus"`
	Config       doctorPath      `json:"config"`
	Database     doctorDB        `json:"database"`
	DataDir      doctorPath      `json:"data_dir"`
	ModelsDir    doctorPath      `json:"models_dir"`
	HFCache      doctorPath      `json:"hf_cache"`
	LogFile      string          `json:"log_file,omitempty"`
	Model        string          `json:"model"`
	Backend      string          `json:"backend"` // as configured: auto, cpu or mlx
	AutoSelected string          `json:"auto_selects"`
	Backends     []doctorBackend `json:"backends"`
	Problems     []string        `json:"problems"`
}

func newDoctorCommand(a *app) *cobra.Command {
	var asJSON, check bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: plannedCommands["doctor"],
		Long: `Print what impetus is running with: version, Go runtime, every file and directory in
use (config, history database and its schema version, data, models and Hugging Face cache
directories) and the compute backends available here. Exits 1 when something is broken
(e.g. an unreadable database); the report says what.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := doctorCollect(cmd.Context(), a, check)
			if asJSON {
				if err := historyJSON(a.stdout, r); err != nil {
					return err
				}
			} else {
				doctorPrint(a, r)
			}
			if len(r.Problems) > 0 {
				return fmt.Errorf("doctor found %d problem(s): %s", len(r.Problems), strings.Join(r.Problems, "; "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&check, "check", false, "also verify the history database page by page (PRAGMA integrity_check; slow on big files)")
	return cmd
}

func pathInfo(p string) doctorPath {
	_, err := os.Stat(p)
	return doctorPath{Path: p, Exists: err == nil}
}

func doctorCollect(ctx context.Context, a *app, check bool) *doctorReport {
	r := &doctorReport{
		Version:   buildVersion(),
		Go:        runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		CPUs:      runtime.NumCPU(),
		Config:    pathInfo(a.configPath),
		DataDir:   pathInfo(config.DataDir()),
		ModelsDir: pathInfo(a.cfg.ModelsDir),
		HFCache:   pathInfo(hub.CacheDir()),
		LogFile:   a.logFile,
		Model:     a.cfg.Model,
		Backend:   a.cfg.Backend,
		Problems:  []string{},
	}
	r.Database = doctorDatabase(ctx, a.DBPath(), check)
	if r.Database.Error != "" {
		r.Problems = append(r.Problems, r.Database.Error)
	}
	r.Backends, r.AutoSelected = doctorBackends(a)
	return r
}

// doctorDatabase inspects the history database without creating or migrating
// it: doctor must not change what it diagnoses.
func doctorDatabase(ctx context.Context, path string, check bool) doctorDB {
	d := doctorDB{doctorPath: pathInfo(path), LatestSchemaVersion: store.LatestSchemaVersion()}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d // created on first use
	}
	if err != nil {
		d.Error = fmt.Sprintf("history database %s: %v", path, err)
		return d
	}
	d.SizeBytes = st.Size()
	s, err := store.OpenReadOnly(path)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	defer s.Close()
	if d.SchemaVersion, err = s.SchemaVersion(); err != nil {
		d.Error = err.Error()
		return d
	}
	if d.SchemaVersion < d.LatestSchemaVersion {
		return d // migrated on the next normal open; the tables may not exist yet
	}
	n, err := s.Counts(ctx)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	d.Conversations, d.Archived, d.Messages, d.Incomplete = n.Conversations, n.Archived, n.Messages, n.Incomplete
	if check {
		d.Integrity = "ok"
		if err := s.IntegrityCheck(ctx); err != nil {
			d.Integrity = err.Error()
			d.Error = err.Error()
		}
	}
	return d
}

// doctorBackends lists the compute backends: the pure-Go cpu backend always,
// and MLX with the reason it can or cannot be used here.
func doctorBackends(a *app) ([]doctorBackend, string) {
	registered := map[string]bool{}
	for _, n := range engine.Backends() {
		registered[n] = true
	}
	threads := a.cfg.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	out := []doctorBackend{{
		Name: "cpu", Available: true, Registered: registered["cpu"],
		Detail: fmt.Sprintf("pure Go, %d worker threads", threads),
	}}
	m := doctorBackend{Name: "mlx", Registered: registered["mlx"]}
	if info, err := mlx.Probe(); err != nil {
		m.Detail = err.Error()
	} else {
		m.Available = true
		m.Detail = fmt.Sprintf("MLX %s on %s (%s)", info.Version, info.Device, info.Path)
		if info.DeviceName != "" {
			m.Detail = fmt.Sprintf("MLX %s on %s %s (%s)", info.Version, info.Device, info.DeviceName, info.Path)
		}
		if !m.Registered {
			m.Detail += "; not selectable in this build yet"
		}
	}
	out = append(out, m)
	auto := "cpu"
	if m.Registered {
		if use, _ := mlx.AutoReason(); use {
			auto = "mlx"
		}
	}
	return out, auto
}

func doctorPrint(a *app, r *doctorReport) {
	yes := func(p doctorPath) string {
		if p.Exists {
			return p.Path
		}
		return p.Path + " (not created yet)"
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "impetus\t%s\n", r.Version)
	fmt.Fprintf(tw, "go\t%s %s/%s, %d CPUs\n", r.Go, r.OS, r.Arch, r.CPUs)
	cfg := r.Config.Path
	if !r.Config.Exists {
		cfg += " (absent: built-in defaults)"
	}
	fmt.Fprintf(tw, "config\t%s\n", cfg)
	db := yes(r.Database.doctorPath)
	switch {
	case r.Database.Error != "":
		db += " — ERROR: " + r.Database.Error
	case r.Database.Exists:
		db += fmt.Sprintf(" (schema v%d of v%d, %d conversations, %d messages, %s)", r.Database.SchemaVersion,
			r.Database.LatestSchemaVersion, r.Database.Conversations, r.Database.Messages, humanBytes(r.Database.SizeBytes))
		if r.Database.Integrity != "" {
			db += "; integrity " + r.Database.Integrity
		}
		if r.Database.Incomplete > 0 {
			db += fmt.Sprintf("; %d incomplete replies (streaming now or interrupted)", r.Database.Incomplete)
		}
	}
	fmt.Fprintf(tw, "database\t%s\n", db)
	fmt.Fprintf(tw, "data dir\t%s\n", yes(r.DataDir))
	fmt.Fprintf(tw, "models dir\t%s\n", yes(r.ModelsDir))
	fmt.Fprintf(tw, "hf cache\t%s\n", yes(r.HFCache))
	if r.LogFile != "" {
		fmt.Fprintf(tw, "log file\t%s\n", r.LogFile)
	}
	model := r.Model
	if model == "" {
		model = "(none: pass -m or set model in the config)"
	}
	fmt.Fprintf(tw, "model\t%s\n", model)
	fmt.Fprintf(tw, "backend\t%s (auto selects %s)\n", r.Backend, r.AutoSelected)
	for _, b := range r.Backends {
		state := "available"
		if !b.Available {
			state = "unavailable"
		}
		fmt.Fprintf(tw, "  %s\t%s: %s\n", b.Name, state, b.Detail)
	}
	tw.Flush()
}
