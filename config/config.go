// Package config loads impetus' settings: built-in defaults, then
// $XDG_CONFIG_HOME/impetus/config.toml, then IMPETUS_* environment variables.
// Command-line flags are applied last by the commands themselves.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/adrg/xdg"

	"github.com/impetus-llm/impetus/assets"
)

// Sampling holds the default sampling settings for a new conversation or request.
type Sampling struct {
	Temperature       float64 `toml:"temperature"`
	TopP              float64 `toml:"top_p"`
	TopK              int     `toml:"top_k"`
	MinP              float64 `toml:"min_p"`
	RepetitionPenalty float64 `toml:"repetition_penalty"`
	MaxTokens         int     `toml:"max_tokens"`
	// Seed is 0 for "random each time"; any other value makes sampling repeatable.
	Seed int64 `toml:"seed"`
}

// Config is everything config.toml can set.
type Config struct {
	// Model is the default model reference: a directory, a hub id (ORG/NAME) found
	// in the Hugging Face cache, or a name in ModelsDir.
	Model string `toml:"model"`
	// Backend is auto, cpu or mlx.
	Backend string `toml:"backend"`
	// ModelsDir is impetus' own model directory (pull and convert write there too).
	ModelsDir string `toml:"models_dir"`
	// Threads is the CPU backend's worker count; 0 means one per core.
	Threads int `toml:"threads"`
	// Theme names the TUI colour theme (dark or light).
	Theme    string   `toml:"theme"`
	Sampling Sampling `toml:"sampling"`
	// Keys overrides TUI key bindings: action name → key (e.g. "new_conversation" = "Ctrl-N").
	Keys map[string]string `toml:"keys"`
	// LogFile, when set, receives logs instead of stderr.
	LogFile string `toml:"log_file"`
}

// Default returns the settings used when config.toml says nothing: the
// embedded assets/config.toml, which doubles as the documented example file.
func Default() *Config {
	cfg := &Config{Keys: map[string]string{}}
	data, err := assets.FS.ReadFile("config.toml")
	if err != nil {
		panic("assets: config.toml missing from the binary: " + err.Error())
	}
	if _, err := toml.Decode(string(data), cfg); err != nil {
		panic("assets/config.toml does not parse: " + err.Error())
	}
	return cfg
}

// DefaultFile is the text of the documented default config.toml.
func DefaultFile() []byte {
	data, _ := assets.FS.ReadFile("config.toml")
	return data
}

// DataDir is where impetus keeps its database and models: $XDG_DATA_HOME/impetus.
func DataDir() string { return filepath.Join(xdg.DataHome, "impetus") }

// DefaultPath is $XDG_CONFIG_HOME/impetus/config.toml.
func DefaultPath() string { return filepath.Join(xdg.ConfigHome, "impetus", "config.toml") }

// DefaultDBPath is $XDG_DATA_HOME/impetus/impetus.db.
func DefaultDBPath() string { return filepath.Join(DataDir(), "impetus.db") }

// StateDir holds logs: $XDG_STATE_HOME/impetus.
func StateDir() string { return filepath.Join(xdg.StateHome, "impetus") }

// Load reads path (a missing file is not an error: defaults apply), then applies
// IMPETUS_* environment overrides. Unknown keys are returned as warnings, not
// errors, so an older impetus can read a newer config.
func Load(path string) (cfg *Config, warnings []string, err error) {
	cfg = Default()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	default:
		md, err := toml.Decode(string(data), cfg)
		if err != nil {
			return nil, nil, describeTOMLError(path, err)
		}
		for _, k := range md.Undecoded() {
			// keys.* is a free-form table: any action name is accepted there.
			if len(k) > 1 && k[0] == "keys" {
				continue
			}
			warnings = append(warnings, fmt.Sprintf("config %s: unknown key %q ignored", path, k.String()))
		}
	}
	if err := applyEnv(cfg, os.LookupEnv); err != nil {
		return nil, warnings, err
	}
	if cfg.ModelsDir == "" {
		cfg.ModelsDir = filepath.Join(DataDir(), "models")
	}
	if err := cfg.Validate(); err != nil {
		return nil, warnings, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, warnings, nil
}

// describeTOMLError turns a decode error into one line naming file, line and key.
func describeTOMLError(path string, err error) error {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		msg := perr.Message
		if msg == "" {
			msg = perr.Error()
		}
		key := ""
		if len(perr.LastKey) > 0 {
			key = fmt.Sprintf(", key %q", perr.LastKey)
		}
		return fmt.Errorf("config %s: line %d%s: %s", path, perr.Position.Line, key, firstLine(msg))
	}
	// Type mismatches (e.g. top_k = "ten") come back without a position.
	return fmt.Errorf("config %s: %s", path, firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Validate checks values that TOML typing cannot.
func (c *Config) Validate() error {
	switch c.Backend {
	case "auto", "cpu", "mlx":
	default:
		return fmt.Errorf("backend %q: must be auto, cpu or mlx", c.Backend)
	}
	if c.Threads < 0 {
		return fmt.Errorf("threads %d: must be 0 (one per core) or more", c.Threads)
	}
	s := c.Sampling
	switch {
	case s.Temperature < 0:
		return fmt.Errorf("sampling.temperature %g: must be >= 0", s.Temperature)
	case s.TopP < 0 || s.TopP > 1:
		return fmt.Errorf("sampling.top_p %g: must be between 0 and 1", s.TopP)
	case s.TopK < 0:
		return fmt.Errorf("sampling.top_k %d: must be >= 0", s.TopK)
	case s.MinP < 0 || s.MinP > 1:
		return fmt.Errorf("sampling.min_p %g: must be between 0 and 1", s.MinP)
	case s.MaxTokens < 0:
		return fmt.Errorf("sampling.max_tokens %d: must be >= 0", s.MaxTokens)
	}
	return nil
}

// envVar maps an IMPETUS_* variable to a TOML key path; the field is found by tag.
var envVars = map[string][]string{
	"IMPETUS_MODEL":              {"model"},
	"IMPETUS_BACKEND":            {"backend"},
	"IMPETUS_MODELS_DIR":         {"models_dir"},
	"IMPETUS_THREADS":            {"threads"},
	"IMPETUS_THEME":              {"theme"},
	"IMPETUS_LOG_FILE":           {"log_file"},
	"IMPETUS_TEMPERATURE":        {"sampling", "temperature"},
	"IMPETUS_TOP_P":              {"sampling", "top_p"},
	"IMPETUS_TOP_K":              {"sampling", "top_k"},
	"IMPETUS_MIN_P":              {"sampling", "min_p"},
	"IMPETUS_REPETITION_PENALTY": {"sampling", "repetition_penalty"},
	"IMPETUS_MAX_TOKENS":         {"sampling", "max_tokens"},
	"IMPETUS_SEED":               {"sampling", "seed"},
}

// EnvNames lists the environment variables that override config keys (for --help and doctor).
func EnvNames() []string {
	names := make([]string, 0, len(envVars))
	for n := range envVars {
		names = append(names, n)
	}
	return names
}

func applyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	for name, path := range envVars {
		val, ok := lookup(name)
		if !ok {
			continue
		}
		field := fieldByTOMLPath(reflect.ValueOf(cfg).Elem(), path)
		if err := setFromString(field, val); err != nil {
			return fmt.Errorf("environment %s=%q: %w", name, val, err)
		}
	}
	return nil
}

func fieldByTOMLPath(v reflect.Value, path []string) reflect.Value {
	for _, key := range path {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("toml") == key {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

func setFromString(f reflect.Value, s string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return errors.New("want a whole number")
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return errors.New("want a number")
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unsupported kind %s", f.Kind())
	}
	return nil
}
