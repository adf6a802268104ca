//! Markup written straight into one string, for the long repeated parts of
//! a page (the runs table's rows, notification entries, status chips,
//! select options, the top bar's section links).
//!
//! Every element a `view!` renders costs type-erased children and
//! attributes, hydration markers and a walk when the browser takes over.
//! Parts with no event handler of their own do not need any of that:
//! they are written here, escaped by `html-escape` (the crate the view layer
//! escapes with), and set as their parent's `inner_html`, which the browser
//! leaves as the server sent it while hydrating.

/// Text content, escaped.
pub fn text(buf: &mut String, value: &str) {
    if plain(value) {
        buf.push_str(value);
    } else {
        html_escape::encode_text_to_string(value, buf);
    }
}

/// ` name="value"`, the value escaped.
pub fn attr(buf: &mut String, name: &str, value: &str) {
    buf.push(' ');
    buf.push_str(name);
    buf.push_str("=\"");
    if plain(value) {
        buf.push_str(value);
    } else {
        html_escape::encode_double_quoted_attribute_to_string(value, buf);
    }
    buf.push('"');
}

/// Whether `value` has nothing to escape, in text or in a double-quoted
/// attribute: most values (ids, classes, times, labels) do not, and one
/// scan of their bytes is cheaper than the escaper's walk over each char.
fn plain(value: &str) -> bool {
    !value
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"'))
}

/// `<tag attrs…>text</tag>` for an element holding only text.
pub fn element(buf: &mut String, tag: &str, attrs: &[(&str, &str)], content: &str) {
    buf.push('<');
    buf.push_str(tag);
    for (name, value) in attrs {
        attr(buf, name, value);
    }
    buf.push('>');
    text(buf, content);
    buf.push_str("</");
    buf.push_str(tag);
    buf.push('>');
}

/// A select's options: the first (empty value) then the choices, the one
/// whose value is `selected` marked.
pub fn options<V: AsRef<str>, L: AsRef<str>>(
    first: (&str, &str),
    choices: impl IntoIterator<Item = (V, L)>,
    selected: &str,
) -> String {
    let mut buf = String::with_capacity(400);
    let mut option = |value: &str, label: &str| {
        buf.push_str("<option");
        attr(&mut buf, "value", value);
        if value == selected {
            buf.push_str(" selected");
        }
        buf.push('>');
        text(&mut buf, label);
        buf.push_str("</option>");
    };
    option(first.0, first.1);
    for (value, label) in choices {
        option(value.as_ref(), label.as_ref());
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_are_copied_as_they_are() {
        let mut buf = String::new();
        element(
            &mut buf,
            "td",
            &[("data-label", "Failed · ünïcode")],
            "Olivia's 3 runs",
        );
        assert_eq!(
            buf,
            "<td data-label=\"Failed · ünïcode\">Olivia's 3 runs</td>"
        );
    }

    #[test]
    fn text_and_attribute_values_cannot_open_or_close_markup() {
        let mut buf = String::new();
        element(
            &mut buf,
            "span",
            &[("title", "\"><script>x</script>")],
            "<b>&amp</b>",
        );
        assert_eq!(
            buf,
            "<span title=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\">&lt;b&gt;&amp;amp&lt;/b&gt;</span>"
        );
    }

    #[test]
    fn options_mark_the_selected_value_and_escape_names() {
        let html = options(("", "Anyone"), [("7", "Ann <ops>"), ("9", "Bob")], "7");
        assert_eq!(
            html,
            "<option value=\"\">Anyone</option><option value=\"7\" selected>Ann &lt;ops&gt;</option><option value=\"9\">Bob</option>"
        );
        assert!(options(("", "Any time"), [("24h", "Last day")], "")
            .starts_with("<option value=\"\" selected>"));
    }
}
