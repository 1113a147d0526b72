//! Parse time: a template's source becomes trees in which every field chain is
//! one call of [`PATH`] (see the module docs of `template`), every body counts a
//! step, print-family results are capped, and `printf` formats are checked.
//! Unknown functions, duplicate definitions and oversized widths are errors here,
//! at config load, naming origin, line and column.

use std::collections::BTreeSet;
use std::sync::Arc;

use gotmpl::parse::{
    BranchNode, CommandNode, Expr, ListNode, Node, Parser, PipeNode, Pos, SmolStr,
};

use super::{CAP, FMT_GUARD, MAX_FORMAT_WIDTH, PATH, PRINT, TICK};

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

type Parsed = (ListNode, Vec<(String, ListNode)>);

/// Parses `src` and rewrites every tree (see the module doc).
pub(super) fn parse_rewritten(origin: &str, src: &str) -> Result<Parsed, String> {
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
pub(super) fn refs_of(l: &ListNode) -> Vec<String> {
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
pub(super) fn check_format(f: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

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
}
