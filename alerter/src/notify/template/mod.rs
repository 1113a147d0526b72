//! Users' notification templates in Go template syntax, as Alertmanager reads them:
//! the `templates:` files (named `{{ define }}` blocks) and the templated email
//! fields (`headers`, `html`, `text`). Decides how a template is parsed, checked at
//! config load, and executed at send time within fixed limits. Owns the set of
//! named templates (ours built in, then the users' files); it holds no other state.
//!
//! This file is the template set, compiling a field against it, and running it
//! within the limits below; `rewrite` is the parse-time rewrite and checks,
//! `data` the data model and Go's field walk, `functions` the function map,
//! `gotime` Go's time layouts, `defaults` the built-in templates.
//!
//! The engine is `gotmpl` (Go's text/template and html/template, no unsafe, no
//! panics). Go's templates call *methods* on Alertmanager's data (`.Alerts.Firing`,
//! `.Labels.SortedPairs`, `.CommonLabels.Remove .GroupLabels.Names`,
//! `.StartsAt.Format "..."`); gotmpl has none. So after parsing, every field chain
//! in the tree (`.A.B`, `$x.A.B`, `(pipe).A.B`) is rewritten into one call of
//! [`PATH`], which walks the chain at run time with Go's rule: a method of the
//! receiver's type wins, else a field or map key. The rewrite works on the parse
//! tree, never on source text, so strings and comments are untouched. Limits of
//! the emulation (documented where they bite):
//! - types are told apart by shape: a label/annotation map (`KV`) is a map of
//!   strings; `Data`, `Alert` and `Pair` carry a hidden `#type` key. A missing key
//!   of a `KV` is `""` (Alertmanager runs with `missingkey=zero`); a missing field
//!   of `Data`/`Alert`/`Pair` is an error, as in Go.
//! - times (`StartsAt`, `EndsAt`) are strings in Go's `time.Time` print format;
//!   `.Format`, `.Unix`, `.IsZero`, `.UTC` and `date` parse them back. `tz`,
//!   `now`, `since` and `humanizeDuration` are not provided.
//! - a `Pair` or `Pairs` printed by an action reads as Go prints the struct
//!   (`[{alertname X}]`); inside `printf "%v"` it reads as a map.
//! - ranging over `Data`/`Alert` (an error in Go) shows the hidden keys.
//!
//! Execution limits, per rendered field, so a hostile template can neither hang
//! nor blow up memory: [`MAX_RANGE_ITERS`] range iterations, [`MAX_STEPS`] steps
//! (template calls, range bodies, field walks), [`MAX_OUTPUT`] bytes of output and
//! of any intermediate string, `printf` widths up to [`MAX_FORMAT_WIDTH`], and
//! gotmpl's own nesting limit (200).

mod data;
mod defaults;
#[cfg(test)]
mod fixtures;
mod functions;
mod gotime;
mod rewrite;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use gotmpl::parse::ListNode;
use gotmpl::{MissingKey, TemplateError, Value};

pub use data::data_value;
pub use defaults::{html_body, subject, text_body};
pub use gotime::go_format;

use super::Data;
use data::exec_err;
use defaults::BUILTIN;

/// Alertmanager 0.25's `email.default.subject` and `email.default.html`.
const EMAIL_TMPL: &str = include_str!("email.tmpl");
use functions::func_map;
use rewrite::{parse_rewritten, refs_of};

/// Range iterations allowed in one rendering (all ranges together).
pub const MAX_RANGE_ITERS: u64 = 100_000;
/// Steps allowed in one rendering: each template call, range body and field walk.
pub const MAX_STEPS: u64 = 1_000_000;
/// Bytes of output of one rendering, and of any string built along the way.
pub const MAX_OUTPUT: usize = 2 << 20;
/// Largest `printf` width or precision.
pub const MAX_FORMAT_WIDTH: u64 = 1_000;

/// The function every field chain is rewritten into:
/// `__path "A.B.C" "line:col" receiver args...`.
pub const PATH: &str = "__path";
const PRINT: &str = "__print";
const TICK: &str = "__tick";
const CAP: &str = "__cap";
const FMT_GUARD: &str = "__fmtguard";
const EMAIL_DEFAULT: &str = "__email_default";
/// The name the field being rendered is stored under in the template set.
const ROOT: &str = "__field__";
/// Hidden key naming the type of a `Data`, `Alert` or `Pair` map.
const TYPE_KEY: &str = "#type";
/// Hidden key of `Data`: renders our built-in subject/text/html.
const DEFAULT_KEY: &str = "#default";

/// The named templates available to every templated field: ours, then the
/// users' `templates:` files in order (a later definition replaces an earlier one).
#[derive(Clone)]
pub struct Templates {
    defines: BTreeMap<String, ListNode>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("defines", &self.defines.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Templates {
    /// No templates at all: for a config that renders none (no email).
    pub fn none() -> Self {
        Templates {
            defines: BTreeMap::new(),
        }
    }

    /// Only the built-in templates.
    pub fn builtin() -> Self {
        let mut t = Templates {
            defines: BTreeMap::new(),
        };
        // Our own source; a failure here is caught by the unit tests.
        if let Err(e) = t.add_source("<built-in>", BUILTIN) {
            tracing::error!("built-in templates: {e}");
        }
        // Alertmanager 0.25's email.tmpl as shipped (its markup is Mailgun's,
        // MIT-licensed, notice included), so a migrated config mails the same.
        if let Err(e) = t.add_source("<built-in email.tmpl>", EMAIL_TMPL) {
            tracing::error!("built-in templates: {e}");
        }
        t
    }

    /// The built-ins plus the files matched by `patterns` (globs, relative to
    /// `base_dir`, as Alertmanager resolves `templates:` against the config
    /// file's directory). A pattern matching no file is not an error.
    pub fn load(base_dir: &Path, patterns: &[String]) -> Result<Self, String> {
        let mut t = Self::builtin();
        for (i, p) in patterns.iter().enumerate() {
            let full = if Path::new(p).is_absolute() {
                p.clone()
            } else {
                base_dir.join(p).to_string_lossy().into_owned()
            };
            let paths = glob::glob(&full)
                .map_err(|e| format!("templates[{i}]: {p:?} is not a valid glob: {e}"))?;
            for path in paths {
                let path = path.map_err(|e| format!("templates[{i}]: {p:?}: {e}"))?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("templates[{i}]: cannot read {}: {e}", path.display()))?;
                t.add_source(&path.display().to_string(), &text)
                    .map_err(|e| format!("templates[{i}]: {e}"))?;
            }
        }
        Ok(t)
    }

    /// The built-ins plus template sources given as `(origin, text)`.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, String> {
        let mut t = Self::builtin();
        for (origin, text) in sources {
            t.add_source(origin, text)?;
        }
        Ok(t)
    }

    /// Names of all defined templates, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.defines.keys().map(String::as_str).collect()
    }

    fn add_source(&mut self, origin: &str, text: &str) -> Result<(), String> {
        let (root, defs) = parse_rewritten(origin, text)?;
        // Go's ParseFiles: the file's own top level is a template named by its
        // base name (when it is not only whitespace).
        let base = Path::new(origin)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned());
        if let Some(base) = base
            && !root.is_empty_tree()
            && origin != "<built-in>"
        {
            self.defines.insert(base, root);
        }
        for (name, body) in defs {
            // An empty body never replaces a definition (Go's parse.associate).
            if body.is_empty_tree() && self.defines.contains_key(&name) {
                continue;
            }
            self.defines.insert(name, body);
        }
        Ok(())
    }

    /// The field's own tree plus the set's, with every `{{ template }}`
    /// reachable from the field checked to exist.
    fn assemble(
        &self,
        field: &str,
        src: &str,
    ) -> Result<(ListNode, BTreeMap<String, ListNode>), String> {
        let (root, defs) = parse_rewritten(field, src)?;
        let mut all = self.defines.clone();
        for (name, body) in defs {
            if body.is_empty_tree() && all.contains_key(&name) {
                continue;
            }
            all.insert(name, body);
        }
        // Every template reachable from the field must exist; Go finds a missing
        // one only at send time, we at config load.
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(String, String)> = refs_of(&root)
            .into_iter()
            .map(|r| (r, field.to_string()))
            .collect();
        while let Some((name, from)) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            match all.get(&name) {
                None => {
                    let mut known: Vec<&str> = all
                        .keys()
                        .map(String::as_str)
                        .filter(|n| !n.starts_with("__"))
                        .collect();
                    known.sort_unstable();
                    return Err(format!(
                        "{from}: template {name:?} is not defined (defined: {})",
                        known.join(", ")
                    ));
                }
                Some(body) => todo.extend(refs_of(body).into_iter().map(|r| (r, name.clone()))),
            }
        }
        Ok((root, all))
    }

    /// Compiles a text field (a header, `text`). `field` names it in errors.
    pub fn text(&self, field: &str, src: &str) -> Result<TextTemplate, String> {
        let (root, all) = self.assemble(field, src)?;
        let mut t = gotmpl::Template::new(ROOT)
            .missing_key(MissingKey::Invalid)
            .max_range_iters(MAX_RANGE_ITERS)
            .funcs(func_map())
            .parse("")
            .map_err(|e| format!("{field}: {e}"))?;
        for (name, body) in all {
            t = t.add_parse_tree(&name, body);
        }
        t = t.add_parse_tree(ROOT, root);
        Ok(TextTemplate {
            field: field.to_string(),
            inner: t,
        })
    }

    /// Compiles the HTML field with html/template's contextual auto-escaping.
    pub fn html(&self, field: &str, src: &str) -> Result<HtmlTemplate, String> {
        let (root, all) = self.assemble(field, src)?;
        let ctx = |e: TemplateError| format!("{field}: {e}");
        let mut t = gotmpl::html::Template::new(ROOT)
            .missing_key(MissingKey::Invalid)
            .max_range_iters(MAX_RANGE_ITERS)
            .funcs(func_map())
            .parse("")
            .map_err(ctx)?;
        for (name, body) in all {
            t = t.add_parse_tree(&name, body).map_err(ctx)?;
        }
        t = t.add_parse_tree(ROOT, root).map_err(ctx)?;
        let h = HtmlTemplate {
            field: field.to_string(),
            inner: t,
        };
        // Escaping runs on the first execution; run it now so an HTML template
        // that cannot be escaped (ends inside a tag, ...) fails at config load.
        // Other errors of this dry run (no data) are expected and ignored.
        if let Err((e @ TemplateError::Escape { .. }, _)) =
            run_limited(|w| h.inner.execute_fmt(w, &Value::Nil))
        {
            return Err(format!("{field}: {e}"));
        }
        Ok(h)
    }
}

/// A compiled text template.
pub struct TextTemplate {
    field: String,
    inner: gotmpl::Template,
}

impl fmt::Debug for TextTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextTemplate({})", self.field)
    }
}

impl TextTemplate {
    /// Renders against a notification's data.
    pub fn render(&self, d: &Data) -> Result<String, String> {
        self.render_value(&data_value(d))
    }

    pub fn render_value(&self, v: &Value) -> Result<String, String> {
        run_limited(|w| self.inner.execute_template_fmt(w, ROOT, v))
            .map_err(|(e, over)| describe(&self.field, &e, over))
    }
}

/// A compiled HTML template (auto-escaped).
pub struct HtmlTemplate {
    field: String,
    inner: gotmpl::html::Template,
}

impl fmt::Debug for HtmlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HtmlTemplate({})", self.field)
    }
}

impl HtmlTemplate {
    pub fn render(&self, d: &Data) -> Result<String, String> {
        self.render_value(&data_value(d))
    }

    pub fn render_value(&self, v: &Value) -> Result<String, String> {
        run_limited(|w| self.inner.execute_fmt(w, v))
            .map_err(|(e, over)| describe(&self.field, &e, over))
    }
}

fn describe(field: &str, e: &TemplateError, over: bool) -> String {
    if over {
        return format!("{field}: output is larger than {MAX_OUTPUT} bytes");
    }
    match e {
        TemplateError::RangeIterLimit => {
            format!("{field}: more than {MAX_RANGE_ITERS} range iterations")
        }
        _ => format!("{field}: {e}"),
    }
}

/// Output capped at [`MAX_OUTPUT`] bytes.
struct Limited {
    buf: String,
    over: bool,
}

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.buf.len() + s.len() > MAX_OUTPUT {
            self.over = true;
            return Err(fmt::Error);
        }
        self.buf.push_str(s);
        Ok(())
    }
}

thread_local! {
    /// Steps left in the rendering under way on this thread (execution is
    /// synchronous, so one counter per thread is enough).
    static STEPS: Cell<u64> = const { Cell::new(MAX_STEPS) };
}

fn run_limited(
    f: impl FnOnce(&mut Limited) -> gotmpl::Result<()>,
) -> Result<String, (TemplateError, bool)> {
    STEPS.with(|s| s.set(MAX_STEPS));
    let mut w = Limited {
        buf: String::new(),
        over: false,
    };
    match f(&mut w) {
        Ok(()) => Ok(w.buf),
        Err(e) => Err((e, w.over)),
    }
}

fn step() -> gotmpl::Result<()> {
    STEPS.with(|s| {
        let left = s.get();
        if left == 0 {
            return Err(exec_err(format!(
                "more than {MAX_STEPS} steps (template calls, range bodies, field lookups)"
            )));
        }
        s.set(left - 1);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn control_flow_and_named_templates() {
        let set = Templates::from_sources(&[(
            "team.tmpl",
            r#"{{ define "team.alert" }}{{ .Labels.instance }}{{ if .Annotations.summary }}: {{ .Annotations.summary }}{{ else }}-{{ end }}{{ end }}
{{ define "team.list" }}{{ range $i, $a := . }}{{ if $i }}, {{ end }}{{ template "team.alert" $a }}{{ end }}{{ end }}"#,
        )])
        .unwrap();
        let t = set
            .text("text", r#"{{ template "team.list" .Alerts.Firing }}{{ with .CommonLabels.nope }}no{{ else }} (none){{ end }}{{ range .Alerts }}{{ if eq .Status "resolved" }}{{ break }}{{ end }}.{{ end }}"#)
            .unwrap();
        assert_eq!(
            t.render(&data()).unwrap(),
            "web1:9100: CPU <high>, web2:9100: CPU <high> (none).."
        );
        // A later file redefines; the field may define its own templates too.
        let set = Templates::from_sources(&[
            ("a.tmpl", r#"{{ define "x" }}a{{ end }}"#),
            ("b.tmpl", r#"{{ define "x" }}b{{ end }}"#),
        ])
        .unwrap();
        assert_eq!(
            set.text("t", r#"{{ template "x" }}"#)
                .unwrap()
                .render(&data())
                .unwrap(),
            "b"
        );
        assert_eq!(
            set.text(
                "t",
                r#"{{ define "y" }}y{{ end }}{{ template "y" }}{{ template "x" }}"#
            )
            .unwrap()
            .render(&data())
            .unwrap(),
            "yb"
        );
    }

    /// `else with` (Go 1.23's text/template, newer than Alertmanager 0.25's Go, so
    /// not comparable with amtool): the first non-empty branch runs, with `.` set.
    #[test]
    fn else_with_chains() {
        let set = Templates::builtin();
        let t = set
            .text(
                "t",
                r#"{{ with .CommonLabels.nope }}a={{ . }}{{ else with .CommonLabels.alertname }}b={{ . }}{{ else }}c{{ end }}|{{ with .CommonLabels.nope }}a{{ else with .CommonLabels.nada }}b{{ else }}c={{ .Status }}{{ end }}"#,
            )
            .unwrap();
        assert_eq!(t.render(&data()).unwrap(), "b=HostHighCpuUsage|c=firing");
    }

    #[test]
    fn html_is_escaped_by_context_and_safe_html_is_not() {
        assert_eq!(
            html(
                r#"<p title="{{ .CommonAnnotations.summary }}">{{ .CommonAnnotations.summary }} {{ "<b>x</b>" | safeHtml }}</p><a href="{{ .ExternalURL }}/x?r={{ .Receiver }}">go</a>"#
            ),
            r#"<p title="CPU &lt;high&gt;">CPU &lt;high&gt; <b>x</b></p><a href="http://alerter:9093/x?r=team-x">go</a>"#
        );
        assert_eq!(
            html(r#"<a href="{{ "javascript:alert(1)" }}">x</a>"#),
            r##"<a href="#ZgotmplZ">x</a>"##
        );
        // The user's own `html` escaper is not applied twice.
        assert_eq!(
            html(r#"{{ .CommonAnnotations.summary | html }}"#),
            "CPU &lt;high&gt;"
        );
        // Text templates do not escape.
        assert_eq!(text("{{ .CommonAnnotations.summary }}"), "CPU <high>");
        // An HTML template that cannot be escaped fails when compiled.
        let e = Templates::builtin()
            .html("html", r#"<a href="{{ .ExternalURL }}"#)
            .unwrap_err();
        assert!(e.starts_with("html: "), "{e}");
    }

    #[test]
    fn hostile_templates_hit_the_limits() {
        let e = text_err("{{ range 200000 }}x{{ end }}");
        assert!(e.contains("range"), "{e}");
        let e = text_err("{{ range 50000 }}{{ range $.Alerts }}{{ .Status }}{{ end }}{{ end }}");
        assert!(e.contains("range"), "{e}");
        // Doubling a string: capped long before memory runs out.
        let e =
            text_err(r#"{{ $x := "0123456789" }}{{ range 40 }}{{ $x = print $x $x }}{{ end }}"#);
        assert!(e.contains("larger than"), "{e}");
        // Output size.
        let e = text_err(
            r#"{{ range 90000 }}{{ "0123456789012345678901234567890123456789" }}{{ end }}"#,
        );
        assert!(e.contains("output is larger than"), "{e}");
        // Exponential template calls without output or ranges.
        let mut src = String::from(r#"{{ define "t0" }}{{ end }}"#);
        for i in 1..40 {
            src.push_str(&format!(
                r#"{{{{ define "t{i}" }}}}{{{{ template "t{p}" }}}}{{{{ template "t{p}" }}}}{{{{ end }}}}"#,
                p = i - 1
            ));
        }
        let set = Templates::from_sources(&[("bomb.tmpl", &src)]).unwrap();
        let e = set
            .text("t", r#"{{ template "t39" }}"#)
            .unwrap()
            .render(&data())
            .unwrap_err();
        assert!(e.contains("steps"), "{e}");
        // Unbounded recursion stops at gotmpl's depth limit.
        let set = Templates::from_sources(&[(
            "r.tmpl",
            r#"{{ define "r" }}{{ template "r" . }}{{ end }}"#,
        )])
        .unwrap();
        let e = set
            .text("t", r#"{{ template "r" . }}"#)
            .unwrap()
            .render(&data())
            .unwrap_err();
        assert!(e.contains("recursion"), "{e}");
    }

    #[test]
    fn files_load_from_globs_relative_to_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmpl")).unwrap();
        std::fs::write(
            dir.path().join("tmpl/a.tmpl"),
            r#"{{ define "mine.subject" }}[{{ .Status }}] {{ .CommonLabels.alertname }}{{ end }}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("tmpl/b.tmpl"), "top {{ .Receiver }}").unwrap();
        let set =
            Templates::load(dir.path(), &["tmpl/*.tmpl".into(), "none/*.tmpl".into()]).unwrap();
        assert_eq!(
            set.text(
                "s",
                r#"{{ template "mine.subject" . }} {{ template "b.tmpl" . }}"#
            )
            .unwrap()
            .render(&data())
            .unwrap(),
            "[firing] HostHighCpuUsage top team-x"
        );
        std::fs::write(dir.path().join("tmpl/c.tmpl"), "{{ if }}").unwrap();
        let e = Templates::load(dir.path(), &["tmpl/*.tmpl".into()]).unwrap_err();
        assert!(
            e.starts_with("templates[0]: ") && e.contains("c.tmpl:1:9: empty command"),
            "{e}"
        );
    }
}
