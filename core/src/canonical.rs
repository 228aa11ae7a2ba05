//! The canonical encoding of a command's content, which its fingerprint hashes.
//!
//! A durable log is read by the next build, so what idempotency compares must not
//! depend on the compiler: `#[derive(Hash)]` promises nothing across versions. The
//! encoding is written out here instead, over serde's data model (whose shape comes from
//! the types' source: variant order, field order), as a sequence of tokens:
//!
//! | value | tokens |
//! |---|---|
//! | `bool`, every integer, `char` | one **word**: the value as a `u64` (signed: two's complement, sign-extended) |
//! | `u128`, `i128` | two words: low, then high |
//! | string, bytes | a word (the length), then the **bytes** themselves |
//! | `None` / `Some(v)` | word 0 / word 1, then `v` |
//! | unit, unit struct | nothing |
//! | newtype struct | its field |
//! | tuple, struct | its fields in order (names are not written) |
//! | enum variant | a word (the variant's index, in declaration order), then its fields |
//! | sequence, map | a word (the length), then the elements (a map: key, value) |
//!
//! [`canonical_bytes`] writes each word as 8 little-endian bytes and each byte run as
//! is: that byte string is the encoding. The fingerprint
//! ([`crate::ids::fingerprint`]) folds the tokens of the actor, then of the body, into
//! [`StableHasher`] (a word: `h = ((h ^ w) × P) ^ ((h ^ w) × P >> 29)`; a byte:
//! `h = (h ^ b) × P`, FNV-1a's prime `P`) and mixes the result; both are pinned by
//! tests with literal values, so a change to either is seen before it ships.
//! Renaming a field or a variant keeps the fingerprint; reordering or inserting one
//! changes it (append new variants at the end).

use crate::ids::StableHasher;
use serde::Serialize;
use serde::ser;
use std::fmt;
use std::hash::Hasher;

/// Where the tokens go.
pub trait Sink {
    /// One word.
    fn word(&mut self, word: u64);
    /// A run of bytes (after its length word).
    fn bytes(&mut self, bytes: &[u8]);
}

impl Sink for StableHasher {
    #[inline]
    fn word(&mut self, word: u64) {
        self.write_u64(word);
    }

    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        self.write(bytes);
    }
}

impl Sink for Vec<u8> {
    fn word(&mut self, word: u64) {
        self.extend_from_slice(&word.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The encoding of `value` as bytes (see the module docs).
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

/// Writes the tokens of `value` into `sink`.
pub fn encode<T: Serialize + ?Sized, S: Sink>(value: &T, sink: &mut S) {
    // Our types serialize infallibly (no maps with unknown length, no custom errors);
    // a failure would leave a shorter, still deterministic, token stream.
    let _ = value.serialize(&mut Encoder { sink });
}

/// The error type serde asks for; never produced by the types we encode.
#[derive(Debug)]
pub struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        EncodeError(message.to_string())
    }
}

struct Encoder<'a, S> {
    sink: &'a mut S,
}

type Done = Result<(), EncodeError>;

impl<'a, 'b, S: Sink> ser::Serializer for &'b mut Encoder<'a, S> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Done {
        self.sink.word(u64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Done {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Done {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Done {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Done {
        self.sink.word(v as u64);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Done {
        self.serialize_u128(v as u128)
    }
    fn serialize_u8(self, v: u8) -> Done {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Done {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Done {
        self.serialize_u64(u64::from(v))
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Done {
        self.sink.word(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Done {
        self.sink.word(v as u64);
        self.sink.word((v >> 64) as u64);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Done {
        self.serialize_u64(u64::from(v.to_bits()))
    }
    fn serialize_f64(self, v: f64) -> Done {
        self.serialize_u64(v.to_bits())
    }
    fn serialize_char(self, v: char) -> Done {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_str(self, v: &str) -> Done {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Done {
        self.sink.word(v.len() as u64);
        self.sink.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Done {
        self.sink.word(0);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        self.sink.word(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        Ok(())
    }
    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Done {
        self.sink.word(u64::from(index));
        Ok(())
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Done {
        self.sink.word(u64::from(index));
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, EncodeError> {
        let len = len.ok_or_else(|| EncodeError("a sequence of unknown length".into()))?;
        self.sink.word(len as u64);
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, EncodeError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, EncodeError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, EncodeError> {
        self.sink.word(u64::from(index));
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, EncodeError> {
        self.serialize_seq(len)
    }
    #[inline]
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, EncodeError> {
        Ok(self)
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, EncodeError> {
        self.sink.word(u64::from(index));
        Ok(self)
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<'a, 'b, S: Sink> ser::$trait for &'b mut Encoder<'a, S> {
            type Ok = ();
            type Error = EncodeError;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
                value.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Ok(())
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

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl<'a, 'b, S: Sink> ser::$trait for &'b mut Encoder<'a, S> {
            type Ok = ();
            type Error = EncodeError;
            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _key: &'static str, value: &T) -> Done {
                value.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

impl<'a, 'b, S: Sink> ser::SerializeMap for &'b mut Encoder<'a, S> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::fingerprint;
    use crate::order::OrderCommand;
    use crate::payment::{GatewayKey, GatewayOutcome, Operation, PaymentCommand};
    use crate::{Actor, CustomerId, OrderId, PaymentId, RefundId, SectionIndex, ShowId, TicketId};

    fn initiate() -> OrderCommand {
        OrderCommand::Initiate {
            order: OrderId(5),
            show: ShowId(1),
            section: SectionIndex(0),
            quantity: 2,
            seats: Some(vec!["A-1".to_owned(), "A-2".to_owned()]),
        }
    }

    fn replied() -> PaymentCommand {
        let payment = PaymentId::Order(OrderId(1));
        PaymentCommand::GatewayReplied {
            key: GatewayKey {
                payment,
                operation: Operation::Refund(RefundId {
                    payment,
                    ticket: Some(TicketId {
                        order: OrderId(1),
                        index: 2,
                    }),
                }),
                attempt: 3,
            },
            outcome: GatewayOutcome::Declined,
        }
    }

    fn words(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|word| word.to_le_bytes()).collect()
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        // A unit variant: its index. A newtype variant: index, then the value.
        assert_eq!(canonical_bytes(&Actor::Service), words(&[2]));
        assert_eq!(
            canonical_bytes(&Actor::Customer(CustomerId(7))),
            words(&[1, 7])
        );
        assert_eq!(canonical_bytes(&OrderCommand::Expire), words(&[3]));
        // A struct variant: index, then the fields in order; an option, a sequence and
        // strings with their lengths.
        let mut expected = words(&[0, 5, 1, 0, 2, 1, 2, 3]);
        expected.extend_from_slice(b"A-1");
        expected.extend_from_slice(&words(&[3]));
        expected.extend_from_slice(b"A-2");
        assert_eq!(canonical_bytes(&initiate()), expected);
        // Nested enums: payment Order(1), operation Refund { payment, ticket Some(1.2) },
        // attempt 3, outcome Declined.
        assert_eq!(
            canonical_bytes(&replied()),
            words(&[6, 0, 1, 3, 0, 1, 1, 1, 2, 3, 1])
        );
    }

    #[test]
    fn fingerprints_are_pinned() {
        // Literal values: a change to the encoding, the hash or a command's shape shows
        // here first (a durable log written by an older build must still match).
        assert_eq!(
            fingerprint(&Actor::Service, &OrderCommand::Expire),
            0x1e39_5de3_bb13_3f41
        );
        assert_eq!(
            fingerprint(&Actor::Customer(CustomerId(7)), &initiate()),
            0x767f_2a87_5cf1_ba02
        );
        assert_eq!(
            fingerprint(&Actor::Service, &replied()),
            0xf536_ac66_29e6_678a
        );
    }
}
