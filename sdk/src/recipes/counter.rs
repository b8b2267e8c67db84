//! A shared counter, stored as Curator's `DistributedAtomicLong` stores it: the node's
//! data is the value as 8 big-endian bytes. Every change is a compare-and-set on the
//! node's version, so concurrent adds never lose an update.
use super::nodes::ensure_container;
use crate::path::{parent, validate};
use crate::{Client, Code, CreateMode, Error, Result};

/// A 64-bit counter at one path, shared by every client that uses the path.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::SharedCounter;
/// let visits = SharedCounter::new(&client, "/counters/visits")?;
/// let now = visits.add(1).await?; // every caller gets a different value
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedCounter {
    client: Client,
    path: String,
}

impl SharedCounter {
    /// A handle on the counter at `path` (created with value 0 on first use, with any
    /// missing ancestors).
    pub fn new(client: &Client, path: &str) -> Result<SharedCounter> {
        validate(path).map_err(Error::BadArguments)?;
        if path == "/" {
            return Err(Error::BadArguments("a counter cannot live at /".into()));
        }
        Ok(SharedCounter {
            client: client.clone(),
            path: path.to_string(),
        })
    }

    /// The current value and the node's version (for [`SharedCounter::compare_and_set`]),
    /// as the connected member has them.
    pub async fn get(&self) -> Result<(i64, i32)> {
        loop {
            match self.client.get(&self.path).await {
                Ok((data, stat)) => return Ok((decode(&data, &self.path)?, stat.version)),
                Err(e) if e.code() == Code::NoNode => self.create().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets the value to `value` if the node's version is still `version`; `false` if
    /// someone changed it in between.
    pub async fn compare_and_set(&self, version: i32, value: i64) -> Result<bool> {
        match self
            .client
            .set(&self.path, &value.to_be_bytes(), Some(version))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Code::BadVersion => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds `delta` and returns the new value. Concurrent adds are applied one after the
    /// other, each to the value the one before left.
    pub async fn add(&self, delta: i64) -> Result<i64> {
        loop {
            let (value, version) = self.get().await?;
            let next = value.checked_add(delta).ok_or_else(|| {
                Error::BadArguments(format!("{}: {value} + {delta} overflows", self.path))
            })?;
            if self.compare_and_set(version, next).await? {
                return Ok(next);
            }
        }
    }

    async fn create(&self) -> Result<()> {
        if let Some(p) = parent(&self.path).filter(|p| *p != "/") {
            ensure_container(&self.client, p).await?;
        }
        match self
            .client
            .create(&self.path, &0i64.to_be_bytes(), CreateMode::Persistent)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Code::NodeExists => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The value in a counter node: 8 big-endian bytes (an empty node counts as 0).
fn decode(data: &[u8], path: &str) -> Result<i64> {
    match data.len() {
        0 => Ok(0),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            Ok(i64::from_be_bytes(b))
        }
        n => Err(Error::BadArguments(format!(
            "{path}: {n} bytes is not a counter (8 big-endian bytes)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_eight_big_endian_bytes() {
        assert_eq!(decode(&[], "/c").unwrap(), 0);
        assert_eq!(decode(&7i64.to_be_bytes(), "/c").unwrap(), 7);
        assert_eq!(decode(&(-1i64).to_be_bytes(), "/c").unwrap(), -1);
        assert!(decode(b"abc", "/c").is_err());
    }
}
