//! Reading a template: the source is cut into text and `{{ actions }}` (with Go's `{{-`/`-}}`
//! trimming and `{{/* comments */}}`), each action into words, and the words into pipelines
//! and `if`/`else`/`end` nodes. Parsing decides what is rejected at load time: undefined
//! variables, unknown functions, unsupported actions (`range`, `with`, `define`, ...) and
//! unbalanced blocks.

use super::functions::FUNCS;
use super::value::TVal;

/// One operand of a command.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Var(String, Vec<String>),
    Dot(Vec<String>),
    Lit(TVal),
    Ident(String),
    Sub(Box<Pipeline>),
}

/// `$x := a | f b | g`: commands whose results feed the next command as its last argument.
#[derive(Debug, Clone)]
pub(super) struct Pipeline {
    pub(super) decl: Option<String>,
    pub(super) cmds: Vec<Vec<Arg>>,
}

/// The parsed template: text, actions, and `if` blocks with their `else` branch.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    /// Go's `with`: the first branch runs with `.` set to the value when it is
    /// non-empty (kube-prometheus's annotations use it).
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// Parses `src` with Prometheus's variable prefix ($labels, $externalLabels, $externalURL,
/// $value) in scope.
pub(super) fn parse(src: &str) -> Result<Vec<Node>, String> {
    let toks = lex(src)?;
    let mut vars: Vec<String> = ["$", "$labels", "$externalLabels", "$externalURL", "$value"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut i = 0;
    let (nodes, end) = parse_nodes(&toks, &mut i, &mut vars)?;
    if let Some(e) = end {
        return Err(format!("unexpected {{{{{e}}}}}"));
    }
    Ok(nodes)
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        let after = &rest[i + 2..];
        let (trim_left, after) = match after.strip_prefix("- ") {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_left {
            text = text.trim_end().to_string();
        }
        out.push(Tok::Text(text));
        let Some(j) = after.find("}}") else {
            return Err("unclosed action: missing \"}}\"".into());
        };
        let mut body = &after[..j];
        let mut next = &after[j + 2..];
        if let Some(b) = body.strip_suffix(" -") {
            body = b;
            next = next.trim_start();
        }
        let body = body.trim();
        if body.starts_with("/*") {
            rest = next;
            continue;
        }
        out.push(Tok::Action(body.to_string()));
        rest = next;
    }
    out.push(Tok::Text(rest.to_string()));
    Ok(out)
}

fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut j = i + 1;
            while j < cs.len() && cs[j] != '"' {
                if cs[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            if j >= cs.len() {
                return Err("unterminated quoted string".into());
            }
            out.push(cs[i..=j].iter().collect());
            i = j + 1;
        } else if c == '`' {
            let j = cs[i + 1..]
                .iter()
                .position(|&x| x == '`')
                .ok_or("unterminated raw quoted string")?
                + i
                + 1;
            out.push(cs[i..=j].iter().collect());
            i = j + 1;
        } else if c == '|' || c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < cs.len() && !cs[j].is_whitespace() && !matches!(cs[j], '|' | '(' | ')' | '"')
            {
                j += 1;
            }
            out.push(cs[i..j].iter().collect());
            i = j;
        }
    }
    Ok(out)
}

fn unquote(w: &str) -> Result<String, String> {
    if let Some(r) = w.strip_prefix('`') {
        return Ok(r.trim_end_matches('`').to_string());
    }
    let inner = &w[1..w.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                other => {
                    return Err(format!(
                        "invalid escape \\{}",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_pipeline(ws: &[String], pos: &mut usize, vars: &[String]) -> Result<Pipeline, String> {
    let mut decl = None;
    if ws.len() > *pos + 1
        && ws[*pos].starts_with('$')
        && (ws[*pos + 1] == ":=" || ws[*pos + 1] == "=")
    {
        decl = Some(ws[*pos].clone());
        *pos += 2;
    }
    let mut cmds = vec![Vec::new()];
    while *pos < ws.len() {
        let w = &ws[*pos];
        *pos += 1;
        let cur = cmds.last_mut().ok_or("empty pipeline")?;
        match w.as_str() {
            "|" => {
                if cur.is_empty() {
                    return Err("missing command before '|'".into());
                }
                cmds.push(Vec::new());
            }
            "(" => {
                let p = parse_pipeline(ws, pos, vars)?;
                if ws.get(*pos).map(String::as_str) != Some(")") {
                    return Err("unclosed '('".into());
                }
                *pos += 1;
                cur.push(Arg::Sub(Box::new(p)));
            }
            ")" => {
                *pos -= 1;
                break;
            }
            _ => cur.push(parse_arg(w, vars)?),
        }
    }
    if cmds.iter().any(|c| c.is_empty()) {
        return Err("missing value for command".into());
    }
    Ok(Pipeline { decl, cmds })
}

fn parse_arg(w: &str, vars: &[String]) -> Result<Arg, String> {
    if w.starts_with('"') || w.starts_with('`') {
        return Ok(Arg::Lit(TVal::Str(unquote(w)?)));
    }
    if let Some(v) = w.strip_prefix('$') {
        let mut parts = v.split('.');
        let name = format!("${}", parts.next().unwrap_or(""));
        if !vars.contains(&name) {
            return Err(format!("undefined variable \"{name}\""));
        }
        return Ok(Arg::Var(name, parts.map(String::from).collect()));
    }
    if w == "." {
        return Ok(Arg::Dot(vec![]));
    }
    if let Some(f) = w.strip_prefix('.') {
        return Ok(Arg::Dot(f.split('.').map(String::from).collect()));
    }
    match w {
        "true" => return Ok(Arg::Lit(TVal::Bool(true))),
        "false" => return Ok(Arg::Lit(TVal::Bool(false))),
        "nil" => return Ok(Arg::Lit(TVal::Nil)),
        _ => {}
    }
    if w.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        return w
            .parse::<f64>()
            .map(|n| Arg::Lit(TVal::Num(n)))
            .map_err(|_| format!("bad number syntax: {w:?}"));
    }
    if FUNCS.contains(&w) {
        return Ok(Arg::Ident(w.to_string()));
    }
    Err(format!("function {w:?} not defined"))
}

/// An `if` or `with` (`kind`) whose action words are `ws`, up to its `{{end}}`;
/// `else if` / `else with` nest a branch that shares that end, as Go reads them.
fn parse_branch(
    kind: &str,
    ws: &[String],
    toks: &[Tok],
    i: &mut usize,
    vars: &mut Vec<String>,
) -> Result<Node, String> {
    let mut pos = 1;
    let cond = parse_pipeline(ws, &mut pos, vars)?;
    let (then, end) = parse_nodes(toks, i, vars)?;
    let els = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => {
            let (e, end2) = parse_nodes(toks, i, vars)?;
            match end2.as_deref() {
                Some("end") => e,
                Some(x) => return Err(format!("unexpected {{{{{x}}}}}")),
                None => return Err("unexpected EOF: missing {{end}}".into()),
            }
        }
        // Go chains `else if` in an if and `else with` in a with, not across.
        Some(x) if x.starts_with(&format!("else {kind} ")) => {
            let ws2 = words(&x[5..])?;
            let k2 = ws2.first().cloned().unwrap_or_default();
            vec![parse_branch(&k2, &ws2, toks, i, vars)?]
        }
        Some(x) => return Err(format!("unexpected {{{{{x}}}}}")),
        None => return Err(format!("unexpected EOF: missing {{{{end}}}} of {kind}")),
    };
    Ok(if kind == "if" {
        Node::If(cond, then, els)
    } else {
        Node::With(cond, then, els)
    })
}

fn parse_nodes(
    toks: &[Tok],
    i: &mut usize,
    vars: &mut Vec<String>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *i < toks.len() {
        let t = &toks[*i];
        *i += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) => {
                let ws = words(a)?;
                let first = ws.first().map(String::as_str).unwrap_or("");
                match first {
                    "" => return Err("missing value for command".into()),
                    "end" | "else" => return Ok((nodes, Some(a.clone()))),
                    "if" | "with" => nodes.push(parse_branch(first, &ws, toks, i, vars)?),
                    "range" | "define" | "template" | "block" | "break" | "continue" => {
                        return Err(format!(
                            "{first:?} is not supported in alert templates here"
                        ));
                    }
                    _ => {
                        let mut pos = 0;
                        let p = parse_pipeline(&ws, &mut pos, vars)?;
                        if pos < ws.len() {
                            return Err(format!("unexpected {:?} in command", ws[pos]));
                        }
                        if let Some(d) = &p.decl
                            && !vars.contains(d)
                        {
                            vars.push(d.clone());
                        }
                        nodes.push(Node::Action(p));
                    }
                }
            }
        }
    }
    Ok((nodes, None))
}
