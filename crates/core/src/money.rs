//! `Money`: an exact amount in a currency, for prices, spend and funding balances.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

/// The smallest unit [`Money`] counts: a ten-thousandth, enough for every currency's minor
/// unit (at most three decimals) with room to spare.
const SCALE: i64 = 10_000;

/// An exact amount of money in a currency (ISO 4217 code: three capital letters), counted in
/// ten-thousandths so that sums never round. Written and read as `"50.00 USD"`.
///
/// ```
/// use kudos_core::Money;
/// let price = Money::parse("50.00 USD")?;
/// let two = price.checked_add(&price).ok_or("another currency")?;
/// assert_eq!(two.to_string(), "100.00 USD");
/// assert!(Money::parse("50.005 usd").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money {
    currency: String,
    /// Ten-thousandths.
    units: i64,
}

impl Money {
    /// Parses `AMOUNT CURRENCY`: a decimal amount with at most four decimals (`50`, `50.5`,
    /// `1234.99`; a leading `-` for a negative one), a space, and a three-letter currency code
    /// in capitals.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidMoney`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let bad = |reason| CoreError::InvalidMoney {
            value: text.escape_debug().to_string(),
            reason,
        };
        let (amount, currency) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("expected AMOUNT CURRENCY, such as 50.00 USD"))?;
        Self::new(amount, currency.trim()).map_err(|e| match e {
            CoreError::InvalidMoney { reason, .. } => bad(reason),
            other => other,
        })
    }

    /// An amount given as a decimal text (`"50.00"`) and a currency code (`"USD"`).
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidMoney`] naming what is wrong.
    pub fn new(amount: &str, currency: &str) -> Result<Self, CoreError> {
        let bad = |reason| CoreError::InvalidMoney {
            value: format!("{amount} {currency}").escape_debug().to_string(),
            reason,
        };
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad(
                "the currency is not a three-letter code in capitals (USD, EUR)",
            ));
        }
        let (negative, digits) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(bad("the amount is not a decimal number such as 50.00"));
        }
        if fraction.len() > 4 {
            return Err(bad("the amount has more than four decimals"));
        }
        let whole: i64 = whole.parse().map_err(|_| bad("the amount is too large"))?;
        let mut frac: i64 = 0;
        for (i, b) in fraction.bytes().enumerate() {
            let place = 10_i64.pow(3 - u32::try_from(i).unwrap_or(3));
            frac += i64::from(b - b'0') * place;
        }
        let units = whole
            .checked_mul(SCALE)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(|| bad("the amount is too large"))?;
        Ok(Self {
            currency: currency.to_owned(),
            units: if negative { -units } else { units },
        })
    }

    /// Zero in `currency` (a three-letter code).
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidMoney`] when the code is not three capital letters.
    pub fn zero(currency: &str) -> Result<Self, CoreError> {
        Self::new("0", currency)
    }

    /// The currency code.
    #[must_use]
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The amount in ten-thousandths of the currency's unit.
    #[must_use]
    pub const fn units(&self) -> i64 {
        self.units
    }

    /// The sum, when both are in one currency and it fits.
    #[must_use]
    pub fn checked_add(&self, other: &Self) -> Option<Self> {
        (self.currency == other.currency).then_some(())?;
        Some(Self {
            currency: self.currency.clone(),
            units: self.units.checked_add(other.units)?,
        })
    }

    /// The difference, when both are in one currency and it fits.
    #[must_use]
    pub fn checked_sub(&self, other: &Self) -> Option<Self> {
        (self.currency == other.currency).then_some(())?;
        Some(Self {
            currency: self.currency.clone(),
            units: self.units.checked_sub(other.units)?,
        })
    }

    /// `self` taken `n` times, when it fits.
    #[must_use]
    pub fn checked_times(&self, n: u64) -> Option<Self> {
        Some(Self {
            currency: self.currency.clone(),
            units: self.units.checked_mul(i64::try_from(n).ok()?)?,
        })
    }

    /// Whether `self` is less than `other` in the same currency (`None` across currencies).
    #[must_use]
    pub fn less_than(&self, other: &Self) -> Option<bool> {
        (self.currency == other.currency).then_some(self.units < other.units)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let abs = self.units.unsigned_abs();
        let scale = SCALE.unsigned_abs();
        let (whole, frac) = (abs / scale, abs % scale);
        // Two decimals, more only when the amount has them.
        let mut decimals = format!("{frac:04}");
        while decimals.len() > 2 && decimals.ends_with('0') {
            decimals.pop();
        }
        write!(f, "{sign}{whole}.{decimals} {}", self.currency)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_and_print_exactly() {
        for (given, shown) in [
            ("50 USD", "50.00 USD"),
            ("50.5 EUR", "50.50 EUR"),
            ("0.001 KWD", "0.001 KWD"),
            ("-12.3456 USD", "-12.3456 USD"),
            ("1234567.89 JPY", "1234567.89 JPY"),
        ] {
            assert_eq!(Money::parse(given).unwrap().to_string(), shown, "{given}");
        }
        let tenth = Money::parse("0.10 USD").unwrap();
        let sum = (0..3).try_fold(Money::zero("USD").unwrap(), |acc, _| {
            acc.checked_add(&tenth)
        });
        assert_eq!(
            sum.unwrap(),
            Money::parse("0.30 USD").unwrap(),
            "no float rounding"
        );
    }

    #[test]
    fn bad_amounts_are_named() {
        for bad in [
            "50",
            "50 usd",
            "50 US",
            "5O.00 USD",
            ".5 USD",
            "5. USD",
            "1.00001 USD",
            "99999999999999999 USD",
            "",
            "50.00 USD EUR",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Money::parse("1 USD")
                .unwrap()
                .checked_add(&Money::parse("1 EUR").unwrap()),
            None,
            "no sum across currencies"
        );
    }
}
