//! Users' notification templates in Go template syntax, as Alertmanager reads them:
//! the `templates:` files (named `{{ define }}` blocks) and the templated email
//! fields (`headers`, `html`, `text`). Decides how a template is parsed, checked at
//! config load, and executed at send time within fixed limits. Owns the set of
//! named templates (ours built in, then the users' files); it holds no other state.
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

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use gotmpl::parse::{
    BranchNode, CommandNode, Expr, ListNode, Node, Parser, PipeNode, Pos, SmolStr,
};
use gotmpl::{FuncMap, MissingKey, SafeKind, TemplateError, Value, ValueFunc};

use super::{AlertData, Data, Status, zero_time};

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

/// gotmpl's own functions (Go's text/template builtins).
const GO_BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "call", "eq", "ne",
    "lt", "le", "gt", "ge", "html", "js", "urlquery",
];

/// Ours, by Alertmanager's names (template/template.go DefaultFuncs), plus
/// Prometheus's `stripPort`.
const OUR_FUNCS: &[&str] = &[
    "toUpper",
    "toLower",
    "title",
    "trimSpace",
    "join",
    "match",
    "safeHtml",
    "safeUrl",
    "urlUnescape",
    "reReplaceAll",
    "stringSlice",
    "stripPort",
    "date",
    "toJson",
    "list",
    "append",
    "dict",
];

/// Built-in named templates: `email.default.*` render our phone-friendly content
/// (email.rs `subject`, `text_body`, `html_body`); `__subject` etc. keep
/// configs written against Alertmanager's default.tmpl working.
const BUILTIN: &str = r#"{{ define "email.default.subject" }}{{ __email_default "subject" . }}{{ end }}
{{- define "email.default.text" }}{{ __email_default "text" . }}{{ end }}
{{- define "email.default.html" }}{{ __email_default "html" . }}{{ end }}
{{- define "__subject" }}{{ template "email.default.subject" . }}{{ end }}
{{- define "__alertmanager" }}alerter{{ end }}
{{- define "__alertmanagerURL" }}{{ .ExternalURL }}{{ end }}"#;

// ---------------------------------------------------------------------------
// The template set
// ---------------------------------------------------------------------------

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

/// Loads the `templates:` files matched by `patterns` (relative to `base_dir`)
/// and checks the templated fields of every email config against them;
/// `receivers` gives each receiver's name and its `email_configs`. All errors at
/// once, each naming the receiver and field. Takes only what it checks, so the
/// config module calls it and notify knows nothing of the whole config.
pub fn check_config<'a>(
    base_dir: &Path,
    patterns: &[String],
    receivers: impl IntoIterator<Item = (&'a str, &'a [super::email::EmailConfig])>,
) -> Result<Templates, String> {
    let set = Templates::load(base_dir, patterns)?;
    let mut errs = Vec::new();
    for (name, emails) in receivers {
        for (i, e) in emails.iter().enumerate() {
            let at = format!("receivers[{name}].email_configs[{i}]");
            if let Err(es) = super::email::compile_content(e, &set) {
                errs.extend(es.into_iter().map(|m| format!("{at}.{m}")));
            }
        }
    }
    if errs.is_empty() {
        Ok(set)
    } else {
        Err(errs.join("\n"))
    }
}

// ---------------------------------------------------------------------------
// Parsing and the rewrite
// ---------------------------------------------------------------------------

type Parsed = (ListNode, Vec<(String, ListNode)>);

/// Parses `src` and rewrites every tree (see the module doc).
fn parse_rewritten(origin: &str, src: &str) -> Result<Parsed, String> {
    let (mut root, defines) = Parser::with_name(Some(origin), src, "{{", "}}")
        .and_then(Parser::parse)
        .map_err(|e| {
            let e = e.to_string();
            e.strip_prefix("template: ")
                .map(str::to_string)
                .unwrap_or(e)
        })?;
    let mut rw = Rewriter {
        src,
        origin,
        errors: Vec::new(),
    };
    rw.body(&mut root);
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for d in defines {
        let name = d.name.to_string();
        if !d.body.is_empty_tree() && !seen.insert(name.clone()) {
            rw.errors.push(format!(
                "{origin}:{}: template {name:?} is defined twice",
                d.pos.line
            ));
        }
        let mut body = d.body;
        rw.body(&mut body);
        out.push((name, body));
    }
    if rw.errors.is_empty() {
        Ok((root, out))
    } else {
        Err(rw.errors.join("; "))
    }
}

struct Rewriter<'a> {
    src: &'a str,
    origin: &'a str,
    errors: Vec<String>,
}

fn ident(pos: Pos, name: &str) -> Expr {
    Expr::Identifier(pos, SmolStr::new(name))
}

fn string(pos: Pos, s: &str) -> Expr {
    Expr::String(pos, Arc::from(s))
}

fn command(pos: Pos, args: Vec<Expr>) -> CommandNode {
    CommandNode { pos, args }
}

fn pipe_of(pos: Pos, commands: Vec<CommandNode>) -> PipeNode {
    PipeNode {
        pos,
        decl: Vec::new(),
        commands,
        is_assign: false,
    }
}

/// `{{ if __tick }}{{ end }}`: counts a step and prints nothing in any
/// html/template context.
fn tick_node(pos: Pos) -> Node {
    Node::If(BranchNode {
        pos,
        pipe: pipe_of(pos, vec![command(pos, vec![ident(pos, TICK)])]),
        body: ListNode {
            pos,
            nodes: Vec::new(),
        },
        else_body: None,
    })
}

impl Rewriter<'_> {
    fn at(&self, pos: Pos) -> String {
        let end = pos.offset.min(self.src.len());
        let start = self.src[..end].rfind('\n').map_or(0, |i| i + 1);
        let col = self.src[start..end].chars().count() + 1;
        format!("{}:{col}", pos.line)
    }

    /// A template body: a step is counted each time it runs.
    fn body(&mut self, l: &mut ListNode) {
        self.list(l);
        l.nodes.insert(0, tick_node(l.pos));
    }

    fn list(&mut self, l: &mut ListNode) {
        for n in &mut l.nodes {
            self.node(n);
        }
    }

    fn node(&mut self, n: &mut Node) {
        match n {
            Node::List(l) => self.list(l),
            Node::Action(a) => {
                self.pipe(&mut a.pipe);
                // Printing: a Pair reads as Go prints the struct. Not after a
                // predefined escaper, which html/template insists comes last.
                let last_is_escaper = a.pipe.commands.last().is_some_and(|c| {
                    matches!(c.args.first(), Some(Expr::Identifier(_, f))
                        if matches!(f.as_str(), "html" | "js" | "urlquery"))
                });
                if a.pipe.decl.is_empty() && !last_is_escaper {
                    let pos = a.pipe.pos;
                    a.pipe.commands.push(command(pos, vec![ident(pos, PRINT)]));
                }
            }
            Node::If(b) | Node::With(b) => {
                self.pipe(&mut b.pipe);
                self.list(&mut b.body);
                if let Some(e) = &mut b.else_body {
                    self.list(e);
                }
            }
            Node::Range(b) => {
                self.pipe(&mut b.pipe);
                self.body(&mut b.body);
                if let Some(e) = &mut b.else_body {
                    self.list(e);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &mut t.pipe {
                    self.pipe(p);
                }
            }
            Node::Define(d) => self.body(&mut d.body),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }

    fn pipe(&mut self, p: &mut PipeNode) {
        let mut out = Vec::with_capacity(p.commands.len());
        for mut c in std::mem::take(&mut p.commands) {
            self.command(&mut c);
            let grows = matches!(c.args.first(), Some(Expr::Identifier(_, f))
                if matches!(f.as_str(), "print" | "printf" | "println"));
            let pos = c.pos;
            out.push(c);
            if grows {
                // The print family can double a string per call; cap each result.
                out.push(command(pos, vec![ident(pos, CAP)]));
            }
        }
        p.commands = out;
    }

    fn command(&mut self, c: &mut CommandNode) {
        let mut args = std::mem::take(&mut c.args).into_iter();
        let Some(head) = args.next() else {
            return;
        };
        let mut out = Vec::new();
        match self.split_chain(head) {
            // `.A.B.Method args...`: the chain's last element may take the args.
            Ok((pos, path, recv)) => {
                out.push(ident(pos, PATH));
                out.push(string(pos, &path));
                out.push(string(pos, &self.at(pos)));
                out.push(recv);
            }
            Err(head) => out.push(self.arg(head)),
        }
        let is_printf = matches!(out.first(), Some(Expr::Identifier(_, f)) if f == "printf");
        for (i, a) in args.enumerate() {
            let a = self.arg(a);
            if is_printf && i == 0 {
                if let Expr::String(pos, s) = &a
                    && let Err(e) = check_format(s)
                {
                    let at = self.at(*pos);
                    self.errors
                        .push(format!("{}:{at}: printf: {e}", self.origin));
                }
                let pos = a.pos();
                out.push(Expr::Pipe(
                    pos,
                    pipe_of(pos, vec![command(pos, vec![ident(pos, FMT_GUARD), a])]),
                ));
            } else {
                out.push(a);
            }
        }
        c.args = out;
    }

    /// A field chain as (position, "A.B", receiver), or the expression back.
    fn split_chain(&mut self, e: Expr) -> Result<(Pos, String, Expr), Expr> {
        let join = |c: &[SmolStr]| c.iter().map(SmolStr::as_str).collect::<Vec<_>>().join(".");
        match e {
            Expr::Field(pos, chain) => Ok((pos, join(&chain), Expr::Dot(pos))),
            Expr::Variable(pos, name, chain) if !chain.is_empty() => {
                Ok((pos, join(&chain), Expr::Variable(pos, name, Vec::new())))
            }
            Expr::Chain(pos, inner, chain) => {
                let inner = self.arg(*inner);
                Ok((pos, join(&chain), inner))
            }
            other => Err(other),
        }
    }

    /// An expression in argument position.
    fn arg(&mut self, e: Expr) -> Expr {
        match self.split_chain(e) {
            Ok((pos, path, recv)) => Expr::Pipe(
                pos,
                pipe_of(
                    pos,
                    vec![command(
                        pos,
                        vec![
                            ident(pos, PATH),
                            string(pos, &path),
                            string(pos, &self.at(pos)),
                            recv,
                        ],
                    )],
                ),
            ),
            Err(Expr::Pipe(pos, mut p)) => {
                self.pipe(&mut p);
                Expr::Pipe(pos, p)
            }
            Err(e) => {
                if let Expr::Identifier(pos, f) = &e {
                    self.check_func(*pos, f);
                }
                e
            }
        }
    }

    fn check_func(&mut self, pos: Pos, f: &str) {
        if !GO_BUILTINS.contains(&f) && !OUR_FUNCS.contains(&f) && !f.starts_with("__") {
            let at = self.at(pos);
            self.errors
                .push(format!("{}:{at}: function {f:?} not defined", self.origin));
        }
    }
}

/// Template names a tree calls.
fn refs_of(l: &ListNode) -> Vec<String> {
    fn walk(n: &Node, out: &mut Vec<String>) {
        match n {
            Node::List(l) => l.nodes.iter().for_each(|n| walk(n, out)),
            Node::Template(t) => out.push(t.name.to_string()),
            Node::If(b) | Node::With(b) | Node::Range(b) => {
                b.body.nodes.iter().for_each(|n| walk(n, out));
                if let Some(e) = &b.else_body {
                    e.nodes.iter().for_each(|n| walk(n, out));
                }
            }
            Node::Define(d) => d.body.nodes.iter().for_each(|n| walk(n, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    l.nodes.iter().for_each(|n| walk(n, &mut out));
    out
}

/// Rejects `printf` widths and precisions above [`MAX_FORMAT_WIDTH`] and `*`
/// (a width taken from an argument), which could allocate without bound.
fn check_format(f: &str) -> Result<(), String> {
    let b = f.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while i < b.len() && !b[i].is_ascii_alphabetic() {
            if b[i] == b'*' {
                return Err(format!("{f:?}: `*` widths are not allowed"));
            }
            if b[i].is_ascii_digit() {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n: u64 = f[start..i].parse().unwrap_or(u64::MAX);
                if n > MAX_FORMAT_WIDTH {
                    return Err(format!(
                        "{f:?}: width or precision {n} is larger than {MAX_FORMAT_WIDTH}"
                    ));
                }
                continue;
            }
            i += 1;
        }
        i += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The data model
// ---------------------------------------------------------------------------

fn s(v: &str) -> Value {
    Value::String(Arc::from(v))
}

fn kv(m: &BTreeMap<String, String>) -> Value {
    Value::Map(Arc::new(
        m.iter()
            .map(|(k, v)| (Arc::from(k.as_str()), s(v)))
            .collect(),
    ))
}

fn typed(t: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut m: BTreeMap<Arc<str>, Value> =
        fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect();
    m.insert(Arc::from(TYPE_KEY), s(t));
    Value::Map(Arc::new(m))
}

fn status(st: Status) -> Value {
    s(match st {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    })
}

const GO_TIME_STRING: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

fn alert_value(a: &AlertData) -> Value {
    typed(
        "Alert",
        vec![
            ("Status", status(a.status)),
            ("Labels", kv(&a.labels)),
            ("Annotations", kv(&a.annotations)),
            ("StartsAt", s(&go_format(&a.starts_at, GO_TIME_STRING))),
            ("EndsAt", s(&go_format(&a.ends_at, GO_TIME_STRING))),
            ("GeneratorURL", s(&a.generator_url)),
            ("Fingerprint", s(&a.fingerprint)),
        ],
    )
}

/// Alertmanager's template data as a template value.
pub fn data_value(d: &Data) -> Value {
    let data = Arc::new(d.clone());
    let render: ValueFunc = Arc::new(move |args: &[Value]| {
        Ok(match args.first().and_then(Value::as_str) {
            Some("subject") => s(&super::email::subject(&data)),
            Some("text") => s(&super::email::text_body(&data)),
            Some("html") => Value::Safe {
                kind: SafeKind::Html,
                s: Arc::from(super::email::html_body(&data)),
            },
            _ => Value::Nil,
        })
    });
    typed(
        "Data",
        vec![
            ("Receiver", s(&d.receiver)),
            ("Status", status(d.status)),
            (
                "Alerts",
                Value::List(d.alerts.iter().map(alert_value).collect()),
            ),
            ("GroupLabels", kv(&d.group_labels)),
            ("CommonLabels", kv(&d.common_labels)),
            ("CommonAnnotations", kv(&d.common_annotations)),
            ("ExternalURL", s(&d.external_url)),
            (DEFAULT_KEY, Value::Function(render)),
        ],
    )
}

/// `Data`, `Alert`, `Pair`, or `None` for other values.
fn type_of(v: &Value) -> Option<&str> {
    match v {
        Value::Map(m) => m.get(TYPE_KEY).and_then(Value::as_str),
        _ => None,
    }
}

fn is_kv(v: &Value) -> bool {
    matches!(v, Value::Map(m) if !m.contains_key(TYPE_KEY))
}

fn is_pairs(v: &Value) -> bool {
    matches!(v, Value::List(l) if l.iter().all(|p| type_of(p) == Some("Pair")))
}

fn type_name(v: &Value) -> String {
    if let Some(t) = type_of(v) {
        return t.to_string();
    }
    match v {
        Value::Map(_) => "KV".into(),
        Value::List(_) if is_pairs(v) => "Pairs".into(),
        other => other.type_name().to_string(),
    }
}

fn exec_err(msg: String) -> TemplateError {
    TemplateError::Exec(msg)
}

/// Alertmanager's `KV.SortedPairs`: `alertname` first, then by name.
fn sorted_pairs(m: &BTreeMap<Arc<str>, Value>) -> Vec<(Arc<str>, Value)> {
    let mut out: Vec<(Arc<str>, Value)> = Vec::with_capacity(m.len());
    if let Some(v) = m.get("alertname") {
        out.push((Arc::from("alertname"), v.clone()));
    }
    out.extend(
        m.iter()
            .filter(|(k, _)| &***k != "alertname")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

fn pair(name: Arc<str>, value: Value) -> Value {
    typed(
        "Pair",
        vec![("Name", Value::String(name)), ("Value", value)],
    )
}

fn pairs_string(items: &[(String, String)]) -> String {
    items
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn field_of(v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Map(m) => m.get(name).cloned(),
        _ => None,
    }
}

/// One step of a field chain: Go's rule, a method of the receiver's type wins,
/// then a field / map key (text/template exec.go evalField).
fn access(v: &Value, name: &str, args: &[Value]) -> gotmpl::Result<Value> {
    let no_args = || -> gotmpl::Result<()> {
        if args.is_empty() {
            Ok(())
        } else {
            Err(exec_err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )))
        }
    };
    let want_one = || -> gotmpl::Result<&Value> {
        match args {
            [a] => Ok(a),
            _ => Err(exec_err(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            ))),
        }
    };
    match (v, name) {
        (Value::List(l), "Firing" | "Resolved")
            if l.iter().all(|a| type_of(a) == Some("Alert")) =>
        {
            no_args()?;
            let want = if name == "Firing" {
                "firing"
            } else {
                "resolved"
            };
            return Ok(Value::List(
                l.iter()
                    .filter(|a| {
                        field_of(a, "Status").as_ref().and_then(Value::as_str) == Some(want)
                    })
                    .cloned()
                    .collect(),
            ));
        }
        (Value::Map(m), "SortedPairs" | "Names" | "Values" | "String" | "Remove") if is_kv(v) => {
            let pairs = sorted_pairs(m);
            return match name {
                "SortedPairs" => {
                    no_args()?;
                    Ok(Value::List(
                        pairs.into_iter().map(|(k, v)| pair(k, v)).collect(),
                    ))
                }
                "Names" => {
                    no_args()?;
                    Ok(Value::List(
                        pairs.into_iter().map(|(k, _)| Value::String(k)).collect(),
                    ))
                }
                "Values" => {
                    no_args()?;
                    Ok(Value::List(pairs.into_iter().map(|(_, v)| v).collect()))
                }
                "String" => {
                    no_args()?;
                    Ok(s(&kv_string(v)))
                }
                _ => {
                    let keys = want_one()?;
                    let Value::List(keys) = keys else {
                        return Err(exec_err(format!(
                            "Remove wants a list of names, got {}",
                            type_name(keys)
                        )));
                    };
                    let drop: BTreeSet<String> = keys.iter().map(text_of).collect();
                    Ok(Value::Map(Arc::new(
                        m.iter()
                            .filter(|(k, _)| !drop.contains(&***k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )))
                }
            };
        }
        (Value::List(l), "Names" | "Values" | "String") if is_pairs(v) => {
            no_args()?;
            let items: Vec<(String, String)> = l
                .iter()
                .map(|p| {
                    (
                        field_of(p, "Name").map(|v| text_of(&v)).unwrap_or_default(),
                        field_of(p, "Value")
                            .map(|v| text_of(&v))
                            .unwrap_or_default(),
                    )
                })
                .collect();
            return Ok(match name {
                "Names" => Value::List(items.into_iter().map(|(k, _)| s(&k)).collect()),
                "Values" => Value::List(items.into_iter().map(|(_, v)| s(&v)).collect()),
                _ => s(&pairs_string(&items)),
            });
        }
        (Value::List(l), "Join") if l.iter().all(|x| matches!(x, Value::String(_))) => {
            let sep = text_of(want_one()?);
            return capped(l.iter().map(text_of).collect::<Vec<_>>().join(&sep));
        }
        (Value::String(t), "Format" | "Unix" | "IsZero" | "UTC" | "Local" | "String") => {
            if let Some(t) = parse_go_time(t) {
                return match name {
                    "Format" => Ok(s(&go_format(&t, &text_of(want_one()?)))),
                    "Unix" => {
                        no_args()?;
                        Ok(Value::Int(t.timestamp()))
                    }
                    "IsZero" => {
                        no_args()?;
                        Ok(Value::Bool(t == zero_time()))
                    }
                    _ => {
                        no_args()?;
                        Ok(s(&go_format(&t, GO_TIME_STRING)))
                    }
                };
            }
        }
        _ => {}
    }
    let found = match v {
        Value::Map(m) => match m.get(name) {
            Some(x) => x.clone(),
            // Alertmanager executes with missingkey=zero: a missing label is "".
            None if is_kv(v) => s(""),
            None => {
                return Err(exec_err(format!(
                    "can't evaluate field {name} in type {}",
                    type_name(v)
                )));
            }
        },
        Value::Nil => {
            return Err(exec_err(format!("nil pointer evaluating field {name}")));
        }
        other => {
            return Err(exec_err(format!(
                "can't evaluate field {name} in type {}",
                type_name(other)
            )));
        }
    };
    if !args.is_empty() {
        return Err(exec_err(format!(
            "{name} is not a method but has arguments"
        )));
    }
    Ok(found)
}

/// A `Pair` as Go prints the struct: `{alertname X}`.
fn pair_string(p: &Value) -> String {
    format!(
        "{{{} {}}}",
        field_of(p, "Name").map(|x| text_of(&x)).unwrap_or_default(),
        field_of(p, "Value")
            .map(|x| text_of(&x))
            .unwrap_or_default()
    )
}

fn kv_string(v: &Value) -> String {
    match v {
        Value::Map(m) => pairs_string(
            &sorted_pairs(m)
                .into_iter()
                .map(|(k, v)| (k.to_string(), text_of(&v)))
                .collect::<Vec<_>>(),
        ),
        _ => String::new(),
    }
}

fn capped(out: String) -> gotmpl::Result<Value> {
    if out.len() > MAX_OUTPUT {
        return Err(exec_err(format!(
            "a string of {} bytes is larger than {MAX_OUTPUT}",
            out.len()
        )));
    }
    Ok(Value::String(Arc::from(out)))
}

// ---------------------------------------------------------------------------
// Go's time layouts
// ---------------------------------------------------------------------------

/// Parses what [`GO_TIME_STRING`] printed (always UTC here).
fn parse_go_time(t: &str) -> Option<DateTime<Utc>> {
    let naive = t.strip_suffix(" +0000 UTC")?;
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `time.Format` with a reference layout (`2006-01-02 15:04:05`), for
/// UTC times: the zone prints as `UTC`, offsets as `+0000`, `Z07:00` as `Z`.
pub fn go_format(t: &DateTime<Utc>, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    let month = t.month0() as usize;
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    while let Some(c) = rest.chars().next() {
        // Longest token first, in the order Go's nextStdChunk tries them.
        let tokens: &[(&str, String)] = &[
            ("January", MONTHS[month].to_string()),
            ("Jan", MONTHS[month][..3].to_string()),
            (
                "Monday",
                DAYS[t.weekday().num_days_from_sunday() as usize].to_string(),
            ),
            (
                "Mon",
                DAYS[t.weekday().num_days_from_sunday() as usize][..3].to_string(),
            ),
            ("MST", "UTC".into()),
            ("2006", format!("{:04}", t.year())),
            ("002", format!("{:03}", t.ordinal())),
            ("01", format!("{:02}", t.month())),
            ("02", format!("{:02}", t.day())),
            ("03", format!("{hour12:02}")),
            ("04", format!("{:02}", t.minute())),
            ("05", format!("{:02}", t.second())),
            ("06", format!("{:02}", t.year().rem_euclid(100))),
            ("15", format!("{:02}", t.hour())),
            ("__2", format!("{:>3}", t.ordinal())),
            ("_2006", format!("_{:04}", t.year())),
            ("_2", format!("{:>2}", t.day())),
            ("1", t.month().to_string()),
            ("2", t.day().to_string()),
            ("3", hour12.to_string()),
            ("4", t.minute().to_string()),
            ("5", t.second().to_string()),
            ("PM", if t.hour() >= 12 { "PM" } else { "AM" }.into()),
            ("pm", if t.hour() >= 12 { "pm" } else { "am" }.into()),
            ("-07:00:00", "+00:00:00".into()),
            ("-070000", "+000000".into()),
            ("-07:00", "+00:00".into()),
            ("-0700", "+0000".into()),
            ("-07", "+00".into()),
            ("Z07:00:00", "Z".into()),
            ("Z070000", "Z".into()),
            ("Z07:00", "Z".into()),
            ("Z0700", "Z".into()),
            ("Z07", "Z".into()),
        ];
        if let Some((tok, val)) = tokens.iter().find(|(tok, _)| rest.starts_with(tok)) {
            out.push_str(val);
            rest = &rest[tok.len()..];
            continue;
        }
        // `.000` / `.999` (or `,`): fractional seconds, when the run of 0s or 9s
        // is not followed by another digit.
        if c == '.' || c == ',' {
            let digits = rest[1..].chars().next().filter(|d| *d == '0' || *d == '9');
            if let Some(d) = digits {
                let n = rest[1..].chars().take_while(|x| *x == d).count();
                let next_is_digit = rest[1 + n..].starts_with(|x: char| x.is_ascii_digit());
                if !next_is_digit {
                    let nanos = format!("{:09}", t.nanosecond());
                    let frac = &nanos[..n.min(9)];
                    if d == '0' {
                        out.push(c);
                        out.push_str(frac);
                        out.push_str(&"0".repeat(n.saturating_sub(9)));
                    } else {
                        let trimmed = frac.trim_end_matches('0');
                        if !trimmed.is_empty() {
                            out.push(c);
                            out.push_str(trimmed);
                        }
                    }
                    rest = &rest[1 + n..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

// ---------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------

fn arg<'a>(name: &str, args: &'a [Value], i: usize) -> gotmpl::Result<&'a Value> {
    args.get(i).ok_or_else(|| {
        exec_err(format!(
            "wrong number of args for {name}: want at least {} got {}",
            i + 1,
            args.len()
        ))
    })
}

fn str_fn(
    name: &'static str,
    f: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (String, ValueFunc) {
    let func: ValueFunc = Arc::new(move |args: &[Value]| {
        if args.len() != 1 {
            return Err(exec_err(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            )));
        }
        capped(f(&text_of(&args[0])))
    });
    (name.to_string(), func)
}

fn regex(pattern: &str) -> gotmpl::Result<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| exec_err(format!("bad regular expression {pattern:?}: {e}")))
}

/// Alertmanager's `title` (x/text cases.Title): each word's first letter upper
/// case, the rest lower case.
fn title(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut in_word = false;
    for c in t.chars() {
        if in_word {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        in_word = c.is_alphanumeric() || c == '\'' || c == '_';
    }
    out
}

/// Prometheus's `stripPort`: the host of `host:port` / `[v6]:port`, else the input.
fn strip_port(t: &str) -> String {
    if let Some(rest) = t.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
        && !port.contains(':')
    {
        return host.to_string();
    }
    match t.split_once(':') {
        Some((host, port)) if !port.contains(':') && !host.contains('[') => host.to_string(),
        _ => t.to_string(),
    }
}

/// Go's `url.QueryUnescape`.
fn url_unescape(t: &str) -> gotmpl::Result<String> {
    let b = t.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = t
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| exec_err(format!("invalid URL escape in {t:?}")))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| exec_err(format!("{t:?} unescapes to invalid UTF-8")))
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(n) => (*n).into(),
        Value::Uint(n) => (*n).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) | Value::Safe { s, .. } => s.to_string().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m
            .iter()
            .filter(|(k, _)| !k.starts_with('#'))
            .map(|(k, v)| (k.to_string(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

fn func_map() -> FuncMap {
    let mut m = FuncMap::new();
    let mut add = |name: &str, f: ValueFunc| {
        m.insert(name.to_string(), f);
    };
    add(
        PATH,
        Arc::new(|args: &[Value]| {
            step()?;
            let (Some(path), Some(at), Some(recv)) = (
                args.first().and_then(Value::as_str),
                args.get(1).and_then(Value::as_str),
                args.get(2),
            ) else {
                return Err(exec_err("internal: malformed field access".into()));
            };
            let names: Vec<&str> = path.split('.').collect();
            let mut v = recv.clone();
            for (i, name) in names.iter().enumerate() {
                let a = if i + 1 == names.len() {
                    &args[3..]
                } else {
                    &[]
                };
                v = access(&v, name, a).map_err(|e| match e {
                    TemplateError::Exec(m) => exec_err(format!("{at}: <.{path}>: {m}")),
                    other => other,
                })?;
            }
            Ok(v)
        }),
    );
    add(
        PRINT,
        Arc::new(|args: &[Value]| {
            let v = args.last().cloned().unwrap_or(Value::Nil);
            Ok(match &v {
                Value::List(l) if !l.is_empty() && is_pairs(&v) => s(&format!(
                    "[{}]",
                    l.iter().map(pair_string).collect::<Vec<_>>().join(" ")
                )),
                _ if type_of(&v) == Some("Pair") => s(&pair_string(&v)),
                _ => v,
            })
        }),
    );
    add(
        TICK,
        Arc::new(|_: &[Value]| {
            step()?;
            Ok(Value::Bool(false))
        }),
    );
    add(
        CAP,
        Arc::new(|args: &[Value]| {
            let v = args.last().cloned().unwrap_or(Value::Nil);
            if let Value::String(t) = &v
                && t.len() > MAX_OUTPUT
            {
                return Err(exec_err(format!(
                    "a string of {} bytes is larger than {MAX_OUTPUT}",
                    t.len()
                )));
            }
            Ok(v)
        }),
    );
    add(
        FMT_GUARD,
        Arc::new(|args: &[Value]| {
            let f = args.first().cloned().unwrap_or(Value::Nil);
            if let Value::String(t) = &f {
                check_format(t).map_err(|e| exec_err(format!("printf: {e}")))?;
            }
            Ok(f)
        }),
    );
    add(
        EMAIL_DEFAULT,
        Arc::new(|args: &[Value]| {
            let kind = arg(EMAIL_DEFAULT, args, 0)?.clone();
            match args.get(1).and_then(|d| field_of(d, DEFAULT_KEY)) {
                Some(Value::Function(f)) => f(&[kind]),
                _ => Err(exec_err(
                    "the email.default.* templates want the notification data as dot, e.g. {{ template \"email.default.subject\" . }}".into(),
                )),
            }
        }),
    );
    for (name, f) in [
        str_fn("toUpper", str::to_uppercase),
        str_fn("toLower", str::to_lowercase),
        str_fn("title", title),
        str_fn("trimSpace", |t| t.trim().to_string()),
        str_fn("stripPort", strip_port),
    ] {
        add(&name, f);
    }
    add(
        "safeHtml",
        Arc::new(|args: &[Value]| {
            Ok(Value::Safe {
                kind: SafeKind::Html,
                s: Arc::from(text_of(arg("safeHtml", args, 0)?)),
            })
        }),
    );
    add(
        "safeUrl",
        Arc::new(|args: &[Value]| {
            Ok(Value::Safe {
                kind: SafeKind::Url,
                s: Arc::from(text_of(arg("safeUrl", args, 0)?)),
            })
        }),
    );
    add(
        "urlUnescape",
        Arc::new(|args: &[Value]| Ok(s(&url_unescape(&text_of(arg("urlUnescape", args, 0)?))?))),
    );
    // join is strings.Join with the arguments swapped, for pipelines.
    add(
        "join",
        Arc::new(|args: &[Value]| {
            let sep = text_of(arg("join", args, 0)?);
            match arg("join", args, 1)? {
                Value::List(l) => capped(l.iter().map(text_of).collect::<Vec<_>>().join(&sep)),
                other => Err(exec_err(format!(
                    "join wants a list of strings, got {}",
                    type_name(other)
                ))),
            }
        }),
    );
    add(
        "match",
        Arc::new(|args: &[Value]| {
            let re = regex(&text_of(arg("match", args, 0)?))?;
            Ok(Value::Bool(re.is_match(&text_of(arg("match", args, 1)?))))
        }),
    );
    add(
        "reReplaceAll",
        Arc::new(|args: &[Value]| {
            let re = regex(&text_of(arg("reReplaceAll", args, 0)?))?;
            let repl = text_of(arg("reReplaceAll", args, 1)?);
            let t = text_of(arg("reReplaceAll", args, 2)?);
            capped(re.replace_all(&t, repl.as_str()).into_owned())
        }),
    );
    add(
        "stringSlice",
        Arc::new(|args: &[Value]| Ok(Value::List(args.iter().map(|a| s(&text_of(a))).collect()))),
    );
    add(
        "list",
        Arc::new(|args: &[Value]| Ok(Value::List(args.iter().cloned().collect()))),
    );
    add(
        "append",
        Arc::new(|args: &[Value]| match arg("append", args, 0)? {
            Value::List(l) => Ok(Value::List(
                l.iter().chain(args[1..].iter()).cloned().collect(),
            )),
            other => Err(exec_err(format!(
                "append wants a list first, got {}",
                type_name(other)
            ))),
        }),
    );
    add(
        "dict",
        Arc::new(|args: &[Value]| {
            if !args.len().is_multiple_of(2) {
                return Err(exec_err("dict requires an even number of arguments".into()));
            }
            let mut m = BTreeMap::new();
            for kv in args.chunks(2) {
                let Value::String(k) = &kv[0] else {
                    return Err(exec_err("dict keys must be strings".into()));
                };
                m.insert(k.clone(), kv[1].clone());
            }
            Ok(Value::Map(Arc::new(m)))
        }),
    );
    add(
        "date",
        Arc::new(|args: &[Value]| {
            let layout = text_of(arg("date", args, 0)?);
            let t = text_of(arg("date", args, 1)?);
            let t =
                parse_go_time(&t).ok_or_else(|| exec_err(format!("date: {t:?} is not a time")))?;
            Ok(s(&go_format(&t, &layout)))
        }),
    );
    add(
        "toJson",
        Arc::new(|args: &[Value]| capped(to_json(arg("toJson", args, 0)?).to_string())),
    );
    // Go's index on a map[string]string yields "" for a missing key.
    add(
        "index",
        Arc::new(|args: &[Value]| {
            let mut v = arg("index", args, 0)?.clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Value::Map(m), Value::String(key)) => match m.get(&**key) {
                        Some(x) => x.clone(),
                        None if is_kv(&v) => s(""),
                        None => {
                            return Err(exec_err(format!(
                                "can't index item of type {}",
                                type_name(&v)
                            )));
                        }
                    },
                    (Value::List(l), _) => {
                        let i = k.as_int().ok_or_else(|| {
                            exec_err(format!("cannot index list with {}", type_name(k)))
                        })?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| l.get(i))
                            .cloned()
                            .ok_or_else(|| exec_err(format!("index out of range: {i}")))?
                    }
                    (Value::String(t), _) => {
                        let i = k.as_int().ok_or_else(|| {
                            exec_err(format!("cannot index string with {}", type_name(k)))
                        })?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| t.as_bytes().get(i))
                            .map(|b| Value::Int(i64::from(*b)))
                            .ok_or_else(|| exec_err(format!("index out of range: {i}")))?
                    }
                    (Value::Nil, _) => return Err(exec_err("index of untyped nil".into())),
                    (other, _) => {
                        return Err(exec_err(format!(
                            "can't index item of type {}",
                            type_name(other)
                        )));
                    }
                };
            }
            Ok(v)
        }),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::email;
    use chrono::TimeZone;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn alert(st: Status, name: &str, instance: &str) -> AlertData {
        AlertData {
            status: st,
            labels: labels(&[
                ("alertname", name),
                ("instance", instance),
                ("severity", "warning"),
            ]),
            annotations: labels(&[("summary", "CPU <high>")]),
            starts_at: Utc.with_ymd_and_hms(2024, 5, 1, 14, 3, 9).unwrap(),
            ends_at: if st == Status::Firing {
                zero_time()
            } else {
                Utc.with_ymd_and_hms(2024, 5, 1, 15, 0, 0).unwrap()
            },
            generator_url: "http://prom:9090/graph?g0.expr=up".into(),
            fingerprint: format!("fp-{instance}"),
        }
    }

    fn data() -> Data {
        Data {
            receiver: "team-x".into(),
            status: Status::Firing,
            alerts: vec![
                alert(Status::Firing, "HostHighCpuUsage", "web1:9100"),
                alert(Status::Firing, "HostHighCpuUsage", "web2:9100"),
                alert(Status::Resolved, "HostHighCpuUsage", "web3:9100"),
            ],
            group_labels: labels(&[("alertname", "HostHighCpuUsage"), ("severity", "warning")]),
            common_labels: labels(&[
                ("alertname", "HostHighCpuUsage"),
                ("severity", "warning"),
                ("team", "ops"),
            ]),
            common_annotations: labels(&[("summary", "CPU <high>")]),
            external_url: "http://alerter:9093".into(),
        }
    }

    fn text(src: &str) -> String {
        Templates::builtin()
            .text("t", src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .render(&data())
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn text_err(src: &str) -> String {
        match Templates::builtin().text("t", src) {
            Err(e) => e,
            Ok(t) => t.render(&data()).expect_err(src),
        }
    }

    fn html(src: &str) -> String {
        Templates::builtin()
            .html("h", src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .render(&data())
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn builtin_defaults_render_our_content() {
        let d = data();
        assert_eq!(
            text(r#"{{ template "email.default.subject" . }}"#),
            email::subject(&d)
        );
        assert_eq!(email::subject(&d), "[FIRING:2] HostHighCpuUsage (warning)");
        assert_eq!(
            text(r#"{{ template "email.default.text" . }}"#),
            email::text_body(&d)
        );
        // In HTML the built-in body is trusted markup, not escaped again.
        assert_eq!(
            html(r#"{{ template "email.default.html" . }}"#),
            email::html_body(&d)
        );
        assert_eq!(
            html(r#"<title>{{ template "email.default.subject" . }}</title>"#),
            format!("<title>{}</title>", email::subject(&d))
        );
        assert_eq!(text(r#"{{ template "__subject" . }}"#), email::subject(&d));
        let e = text_err(r#"{{ template "email.default.subject" .Alerts }}"#);
        assert!(e.contains("want the notification data as dot"), "{e}");
    }

    #[test]
    fn data_fields() {
        assert_eq!(
            text(
                "{{ .Status }} {{ .Receiver }} {{ .ExternalURL }} {{ .GroupLabels.alertname }} {{ .CommonLabels.team }} {{ .CommonAnnotations.summary }}"
            ),
            "firing team-x http://alerter:9093 HostHighCpuUsage ops CPU <high>"
        );
        assert_eq!(
            text(
                "{{ range .Alerts }}{{ .Status }} {{ .Labels.instance }} {{ .Annotations.summary }} {{ .StartsAt }} | {{ .EndsAt }} {{ .GeneratorURL }} {{ .Fingerprint }}\n{{ end }}"
            ),
            "firing web1:9100 CPU <high> 2024-05-01 14:03:09 +0000 UTC | 0001-01-01 00:00:00 +0000 UTC http://prom:9090/graph?g0.expr=up fp-web1:9100\n\
             firing web2:9100 CPU <high> 2024-05-01 14:03:09 +0000 UTC | 0001-01-01 00:00:00 +0000 UTC http://prom:9090/graph?g0.expr=up fp-web2:9100\n\
             resolved web3:9100 CPU <high> 2024-05-01 14:03:09 +0000 UTC | 2024-05-01 15:00:00 +0000 UTC http://prom:9090/graph?g0.expr=up fp-web3:9100\n"
        );
        // Alertmanager runs with missingkey=zero: a missing label is "".
        assert_eq!(text("[{{ .CommonLabels.nope }}]"), "[]");
        assert_eq!(
            text(r#"{{ if eq .CommonLabels.nope "" }}empty{{ end }}"#),
            "empty"
        );
        assert_eq!(text(r#"[{{ index .CommonLabels "nope" }}]"#), "[]");
        assert_eq!(text(r#"{{ index .CommonLabels "team" }}"#), "ops");
        // A missing field of Data or Alert is an error, as in Go.
        let e = text_err("{{ .Staus }}");
        assert!(e.contains("can't evaluate field Staus in type Data"), "{e}");
        assert!(e.contains("1:4"), "position: {e}");
        let e = text_err("{{ range .Alerts }}{{ .Label }}{{ end }}");
        assert!(
            e.contains("can't evaluate field Label in type Alert"),
            "{e}"
        );
    }

    #[test]
    fn methods_in_every_position() {
        assert_eq!(text("{{ .Alerts.Firing | len }}"), "2");
        assert_eq!(text("{{ len .Alerts.Resolved }}"), "1");
        assert_eq!(
            text("{{ range .Alerts }}{{ range $.Alerts.Firing }}f{{ end }};{{ end }}"),
            "ff;ff;ff;"
        );
        assert_eq!(
            text(
                "{{ range $a := .Alerts.Resolved }}{{ range $a.Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}{{ end }}"
            ),
            "alertname=HostHighCpuUsage instance=web3:9100 severity=warning "
        );
        assert_eq!(
            text("{{ with .CommonLabels }}{{ range .SortedPairs }}{{ .Name }};{{ end }}{{ end }}"),
            "alertname;severity;team;"
        );
        assert_eq!(
            text(r#"{{ .GroupLabels.SortedPairs.Values | join " " }}"#),
            "HostHighCpuUsage warning"
        );
        assert_eq!(
            text(
                r#"{{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}"#
            ),
            "ops"
        );
        assert_eq!(
            text("{{ .CommonLabels.Names }}"),
            "[alertname severity team]"
        );
        assert_eq!(
            text(r#"{{ .GroupLabels.Values.Join "," }}"#),
            "HostHighCpuUsage,warning"
        );
        assert_eq!(
            text("{{ .GroupLabels.SortedPairs }}"),
            "[{alertname HostHighCpuUsage} {severity warning}]"
        );
        assert_eq!(
            text("{{ .GroupLabels.SortedPairs.Names }}"),
            "[alertname severity]"
        );
        assert_eq!(
            text("{{ (index .Alerts 2).Labels.instance }} {{ (index .Alerts.Firing 0).Status }}"),
            "web3:9100 firing"
        );
        // Pipelines: the piped value is a method's last argument.
        assert_eq!(
            text(r#"{{ .GroupLabels.Names | .CommonLabels.Remove | len }}"#),
            "1"
        );
        // Alertmanager's subject line, as configs copy it.
        assert_eq!(
            text(
                r#"[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}"#
            ),
            "[FIRING:2] HostHighCpuUsage warning (ops)"
        );
        // alertname sorts first in SortedPairs, whatever its name's order.
        let mut d = data();
        d.common_labels.insert("a".into(), "1".into());
        let t = Templates::builtin()
            .text("t", "{{ .CommonLabels.Names }}")
            .unwrap();
        assert_eq!(t.render(&d).unwrap(), "[alertname a severity team]");
    }

    #[test]
    fn a_label_named_like_a_method_is_still_a_label_where_go_reads_one() {
        let mut d = data();
        d.alerts[0].labels.insert("Firing".into(), "yes".into());
        d.alerts[0].annotations.insert("Format".into(), "f".into());
        let t = Templates::builtin()
            .text(
                "t",
                "{{ with index .Alerts 0 }}{{ .Labels.Firing }} {{ .Annotations.Format }}{{ end }}",
            )
            .unwrap();
        assert_eq!(t.render(&d).unwrap(), "yes f");
        // The method wins on KV, as Go's evalField tries methods first.
        d.common_labels.insert("Names".into(), "x".into());
        let t = Templates::builtin()
            .text("t", "{{ .CommonLabels.Names | len }}")
            .unwrap();
        assert_eq!(t.render(&d).unwrap(), "4");
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            text(r#"{{ "warn" | toUpper }} {{ toLower "ABC" }}"#),
            "WARN abc"
        );
        assert_eq!(
            text(r#"{{ title "hello wORLD foo-bar" }}"#),
            "Hello World Foo-Bar"
        );
        assert_eq!(text(r#"[{{ trimSpace "  x \n" }}]"#), "[x]");
        assert_eq!(
            text(
                r#"{{ stripPort "web1:9100" }} {{ stripPort "[::1]:80" }} {{ stripPort "host" }} {{ stripPort "::1" }}"#
            ),
            "web1 ::1 host ::1"
        );
        assert_eq!(
            text(r#"{{ reReplaceAll "(.*):(\\d+)" "$1 port $2" "web1:9100" }}"#),
            "web1 port 9100"
        );
        assert_eq!(
            text(r#"{{ if match "^web" (index .Alerts 0).Labels.instance }}yes{{ end }}"#),
            "yes"
        );
        assert_eq!(
            text(r#"{{ join "+" (stringSlice "a" "b") }} {{ urlUnescape "a%20b+c" }}"#),
            "a+b a b c"
        );
        assert_eq!(
            text(r#"{{ toJson .GroupLabels }}"#),
            r#"{"alertname":"HostHighCpuUsage","severity":"warning"}"#
        );
        assert_eq!(
            text(r#"{{ (dict "a" "1").a }} {{ len (list 1 2 3) }} {{ len (append (list 1) 2) }}"#),
            "1 3 2"
        );
        let e = text_err(r#"{{ reReplaceAll "(" "" "x" }}"#);
        assert!(e.contains("bad regular expression"), "{e}");
    }

    #[test]
    fn time_formatting() {
        assert_eq!(
            text(r#"{{ (index .Alerts 0).StartsAt.Format "2006-01-02 15:04:05 MST" }}"#),
            "2024-05-01 14:03:09 UTC"
        );
        assert_eq!(
            text(
                r#"{{ with index .Alerts 0 }}{{ .StartsAt.Format "Mon Jan _2 3:04PM 06 Z07:00" }} {{ .StartsAt.Unix }} {{ .EndsAt.IsZero }} {{ date "02.01.2006" .StartsAt }}{{ end }}"#
            ),
            "Wed May  1 2:03PM 24 Z 1714572189 true 01.05.2024"
        );
        let t = Utc.with_ymd_and_hms(2024, 12, 31, 0, 5, 7).unwrap()
            + chrono::Duration::milliseconds(120);
        assert_eq!(
            go_format(&t, "2006-01-02T15:04:05.000Z07:00"),
            "2024-12-31T00:05:07.120Z"
        );
        assert_eq!(
            go_format(&t, "15:04:05.999 pm January Monday 002 -0700"),
            "00:05:07.12 am December Tuesday 366 +0000"
        );
        assert_eq!(
            go_format(&t, GO_TIME_STRING),
            "2024-12-31 00:05:07.12 +0000 UTC"
        );
        assert_eq!(parse_go_time("2024-12-31 00:05:07.12 +0000 UTC"), Some(t));
        assert_eq!(go_format(&t, "3:04:05 PM"), "12:05:07 AM");
    }

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
    fn compile_errors_name_field_position_and_problem() {
        let e = Templates::builtin()
            .text("headers.Subject", "{{ .Status")
            .unwrap_err();
        assert!(e.contains("headers.Subject:1"), "{e}");
        let e = Templates::builtin()
            .text("headers.Subject", "x\n  {{ .Status | nope }}")
            .unwrap_err();
        assert_eq!(e, r#"headers.Subject:2:16: function "nope" not defined"#);
        let e = Templates::builtin()
            .text("text", r#"{{ template "missing" . }}"#)
            .unwrap_err();
        assert!(e.contains(r#"template "missing" is not defined"#), "{e}");
        assert!(
            e.contains("email.default.subject"),
            "lists what exists: {e}"
        );
        let e = Templates::from_sources(&[(
            "a.tmpl",
            r#"{{ define "x" }}{{ template "y" }}{{ end }}"#,
        )])
        .unwrap()
        .text("text", r#"{{ template "x" }}"#)
        .unwrap_err();
        assert!(e.starts_with(r#"x: template "y" is not defined"#), "{e}");
        let e = Templates::from_sources(&[(
            "a.tmpl",
            r#"{{ define "x" }}1{{ end }}{{ define "x" }}2{{ end }}"#,
        )])
        .unwrap_err();
        assert!(e.contains("defined twice"), "{e}");
        let e = Templates::builtin()
            .text("text", r#"{{ printf "%5000d" 1 }}"#)
            .unwrap_err();
        assert!(e.contains("width or precision 5000"), "{e}");
    }

    #[test]
    fn runtime_errors() {
        let e = text_err("{{ .Alerts.Firing.Nope }}");
        assert!(e.starts_with("t: "), "{e}");
        assert!(e.contains("can't evaluate field Nope"), "{e}");
        let e = text_err("{{ .Status.Foo }}");
        assert!(e.contains("can't evaluate field Foo in type string"), "{e}");
        let e = text_err(r#"{{ .Receiver "x" }}"#);
        assert!(e.contains("not a method but has arguments"), "{e}");
        let e = text_err(r#"{{ .CommonLabels.Remove }}"#);
        assert!(e.contains("wrong number of args for Remove"), "{e}");
        let e = text_err(r#"{{ index .Alerts 9 }}"#);
        assert!(e.contains("index out of range: 9"), "{e}");
        let e = text_err(r#"{{ $f := "%*d" }}{{ printf $f 100000000 1 }}"#);
        assert!(e.contains("`*` widths"), "{e}");
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

    #[test]
    fn check_config_names_receiver_and_field() {
        #[derive(serde::Deserialize)]
        struct Receiver {
            name: String,
            email_configs: Vec<email::EmailConfig>,
        }
        #[derive(serde::Deserialize)]
        struct Config {
            receivers: Vec<Receiver>,
        }
        let cfg: Config = serde_yaml::from_str(
            r#"
receivers:
  - name: ok
    email_configs:
      - to: a@example.com
        headers: { subject: '{{ template "email.default.subject" . }}', X-Team: '{{ .CommonLabels.team }}' }
  - name: team-x
    email_configs:
      - to: a@example.com
        html: '{{ .Alerts | nope }}'
        headers: { Subject: '{{ template "nope" . }}' }
"#,
        )
        .unwrap();
        let receivers = cfg
            .receivers
            .iter()
            .map(|r| (r.name.as_str(), r.email_configs.as_slice()));
        let e = check_config(Path::new("."), &[], receivers).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(lines[0].starts_with("receivers[team-x].email_configs[0].headers.Subject: template \"nope\" is not defined"), "{e}");
        assert_eq!(
            lines[1],
            "receivers[team-x].email_configs[0].html:1:14: function \"nope\" not defined"
        );
    }
}
