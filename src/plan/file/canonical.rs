//! A stable byte form of any `Serialize` value, for digests: unlike JSON it takes maps whose
//! keys are structs or enums (the catalog model's ACLs are keyed by `Grantee`), and unlike
//! `Debug` output it only changes when the data does. Every value is written with a tag, and
//! strings and sequences with their lengths, so two different values never give the same bytes.

use serde::ser::{self, Serialize};

/// The bytes of `value`.
pub fn to_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and this serializer has no error of its own.
    let _ = value.serialize(&mut Canonical { out: &mut out });
    out
}

struct Canonical<'a> {
    out: &'a mut Vec<u8>,
}

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("canonical serialization does not fail")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Never
    }
}

impl Canonical<'_> {
    fn tag(&mut self, tag: u8) {
        self.out.push(tag);
    }

    fn len(&mut self, len: usize) {
        self.out.extend_from_slice(&(len as u64).to_le_bytes());
    }

    fn text(&mut self, text: &str) {
        self.len(text.len());
        self.out.extend_from_slice(text.as_bytes());
    }
}

type Result = std::result::Result<(), Never>;

impl<'a, 'b> ser::Serializer for &'a mut Canonical<'b> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result {
        self.tag(b'b');
        self.out.push(u8::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.tag(b'i');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.tag(b'u');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.tag(b'f');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.tag(b's');
        self.text(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.tag(b'x');
        self.len(v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.tag(b'n');
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        self.tag(b'y');
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.tag(b'0');
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.tag(b'v');
        self.text(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.tag(b'V');
        self.text(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Self, Never> {
        self.tag(b'[');
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self, Never> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> std::result::Result<Self, Never> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> std::result::Result<Self, Never> {
        self.tag(b'V');
        self.text(variant);
        self.serialize_seq(None)
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self, Never> {
        self.tag(b'{');
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> std::result::Result<Self, Never> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> std::result::Result<Self, Never> {
        self.tag(b'V');
        self.text(variant);
        self.serialize_map(None)
    }
}

/// Elements and fields are each preceded by a marker, and the end is marked, so nesting is
/// unambiguous.
impl Canonical<'_> {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.tag(b',');
        value.serialize(&mut *self)
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.tag(b',');
        self.text(key);
        value.serialize(&mut *self)
    }

    fn end(&mut self) -> Result {
        self.tag(b'.');
        Ok(())
    }
}

/// The compound serializers of serde that differ only in their trait and method name: each
/// element (or named field) goes through [`Canonical::element`] (or [`Canonical::field`]).
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Canonical<'_> {
            type Ok = ();
            type Error = Never;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                Canonical::end(self)
            }
        }
    )*};
}

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Canonical<'_> {
            type Ok = ();
            type Error = Never;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result {
                self.field(key, value)
            }
            fn end(self) -> Result {
                Canonical::end(self)
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);
fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for &mut Canonical<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        self.element(key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        Canonical::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::model::{Grantee, Privilege};

    #[test]
    fn maps_keyed_by_enums_serialize_and_differ_with_their_content() {
        let acl = |role: &str| {
            BTreeMap::from([(
                Grantee::Role(role.to_string()),
                [Privilege::ALL[0]]
                    .into_iter()
                    .collect::<std::collections::BTreeSet<_>>(),
            )])
        };
        assert!(
            serde_json::to_vec(&acl("a")).is_err(),
            "JSON cannot take these keys"
        );
        assert_eq!(to_bytes(&acl("a")), to_bytes(&acl("a")));
        assert_ne!(to_bytes(&acl("a")), to_bytes(&acl("b")));
        // Lengths keep neighbours apart.
        assert_ne!(to_bytes(&("ab", "c")), to_bytes(&("a", "bc")));
        assert_ne!(
            to_bytes(&vec![vec![1], vec![]]),
            to_bytes(&vec![vec![], vec![1]])
        );
    }
}
