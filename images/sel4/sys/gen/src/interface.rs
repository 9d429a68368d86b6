//! libsel4's interface XML (`<api>` of `<struct>`s and `<interface>`s of `<method>`s of
//! `<param>`s) read into plain values, in document order: the order that numbers the invocation
//! labels.

use std::fmt;

/// One XML file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Api {
    pub structs: Vec<Struct>,
    pub interfaces: Vec<Interface>,
}

/// A `<struct>`: a multi-word type passed by reference, its members one word each, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct {
    pub name: String,
    pub members: Vec<String>,
}

/// An `<interface>`: the invocations of one capability type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub methods: Vec<Method>,
}

/// A `<method>`: one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// The method's name (`Retype`); the C stub is `<interface>_<name>`.
    pub name: String,
    /// The invocation label's name (`UntypedRetype`).
    pub id: String,
    /// A C preprocessor condition; the method (and its label) exists only where it holds.
    pub condition: String,
    /// The one-line description, whitespace collapsed.
    pub brief: String,
    pub params: Vec<Param>,
}

/// A `<param>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub type_name: String,
    pub direction: Direction,
}

/// Which way a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// Why an interface file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// Not well-formed XML.
    Malformed(String),
    /// An element lacks an attribute the format requires.
    MissingAttribute {
        element: &'static str,
        attribute: &'static str,
    },
    /// A `dir` other than `in` or `out`.
    BadDirection {
        method: String,
        param: String,
        dir: String,
    },
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(message) => write!(f, "malformed XML: {message}"),
            Self::MissingAttribute { element, attribute } => {
                write!(f, "a <{element}> has no `{attribute}` attribute")
            }
            Self::BadDirection { method, param, dir } => {
                write!(
                    f,
                    "{method}: parameter {param} has dir=\"{dir}\" (in or out expected)"
                )
            }
        }
    }
}

/// Parses one interface XML file.
pub fn parse(xml: &str) -> Result<Api, XmlError> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let document = roxmltree::Document::parse_with_options(xml, options)
        .map_err(|error| XmlError::Malformed(error.to_string()))?;
    let mut api = Api::default();
    for node in document.descendants().filter(|node| node.is_element()) {
        match node.tag_name().name() {
            "struct" => api.structs.push(Struct {
                name: attribute(node, "struct", "name")?.to_owned(),
                members: elements(node, "member")
                    .map(|member| attribute(member, "member", "name").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            }),
            "interface" => api.interfaces.push(Interface {
                name: attribute(node, "interface", "name")?.to_owned(),
                methods: elements(node, "method")
                    .map(method)
                    .collect::<Result<_, _>>()?,
            }),
            _ => {}
        }
    }
    Ok(api)
}

fn method(node: roxmltree::Node<'_, '_>) -> Result<Method, XmlError> {
    let name = attribute(node, "method", "name")?.to_owned();
    let params = elements(node, "param")
        .map(|param| {
            let param_name = attribute(param, "param", "name")?.to_owned();
            let direction = match attribute(param, "param", "dir")? {
                "in" => Direction::In,
                "out" => Direction::Out,
                other => {
                    return Err(XmlError::BadDirection {
                        method: name.clone(),
                        param: param_name,
                        dir: other.to_owned(),
                    })
                }
            };
            Ok(Param {
                name: param_name,
                type_name: attribute(param, "param", "type")?.to_owned(),
                direction,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Method {
        id: attribute(node, "method", "id")?.to_owned(),
        condition: node.attribute("condition").unwrap_or("").to_owned(),
        brief: elements(node, "brief").next().map(text).unwrap_or_default(),
        name,
        params,
    })
}

fn elements<'a, 'input: 'a>(
    node: roxmltree::Node<'a, 'input>,
    tag: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> {
    node.descendants()
        .filter(move |child| child.is_element() && child.tag_name().name() == tag)
}

fn attribute<'a>(
    node: roxmltree::Node<'a, '_>,
    element: &'static str,
    name: &'static str,
) -> Result<&'a str, XmlError> {
    node.attribute(name).ok_or(XmlError::MissingAttribute {
        element,
        attribute: name,
    })
}

/// An element's text, `<texttt text="x"/>` as `x`, whitespace collapsed.
fn text(node: roxmltree::Node<'_, '_>) -> String {
    let mut out = String::new();
    for piece in node.descendants() {
        if piece.is_text() {
            out.push_str(piece.text().unwrap_or(""));
        } else if piece.tag_name().name() == "texttt" {
            out.push('`');
            out.push_str(piece.attribute("text").unwrap_or(""));
            out.push('`');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" ?>
<!-- a comment -->
<api name="ObjectApi">
    <struct name="seL4_UserContext"><member name="pc"/><member name="sp"/></struct>
    <interface name="seL4_Untyped" manual_name="Untyped">
        <method id="UntypedRetype" name="Retype">
            <brief>
                Retype an <texttt text="untyped"/> object
            </brief>
            <param dir="in" name="type" type="seL4_Word" description="x"/>
            <param dir="out" name="paddr" type="seL4_Word"/>
        </method>
        <method id="Later" name="Later" condition="CONFIG_MAX_NUM_NODES &gt; 1"/>
    </interface>
</api>"#;

    #[test]
    fn structs_interfaces_methods_and_params_come_out_in_document_order() {
        let api = parse(XML).unwrap();
        assert_eq!(
            api.structs,
            [Struct {
                name: "seL4_UserContext".into(),
                members: vec!["pc".into(), "sp".into()]
            }]
        );
        let untyped = &api.interfaces[0];
        assert_eq!(untyped.name, "seL4_Untyped");
        let retype = &untyped.methods[0];
        assert_eq!(
            (retype.id.as_str(), retype.name.as_str()),
            ("UntypedRetype", "Retype")
        );
        assert_eq!(retype.brief, "Retype an `untyped` object");
        assert_eq!(
            retype.params,
            [
                Param {
                    name: "type".into(),
                    type_name: "seL4_Word".into(),
                    direction: Direction::In
                },
                Param {
                    name: "paddr".into(),
                    type_name: "seL4_Word".into(),
                    direction: Direction::Out
                },
            ]
        );
        assert_eq!(untyped.methods[1].condition, "CONFIG_MAX_NUM_NODES > 1");
    }

    #[test]
    fn malformed_files_and_missing_attributes_are_errors() {
        assert!(matches!(
            parse("<api><interface>"),
            Err(XmlError::Malformed(_))
        ));
        assert_eq!(
            parse(r#"<api><interface name="i"><method name="m"/></interface></api>"#),
            Err(XmlError::MissingAttribute {
                element: "method",
                attribute: "id"
            })
        );
        assert!(matches!(
            parse(
                r#"<api><interface name="i"><method name="m" id="M"><param name="p" type="t" dir="both"/></method></interface></api>"#
            ),
            Err(XmlError::BadDirection { .. })
        ));
    }
}
