//! Which storage engine the harness's hosts use. By default a SQLite file per harness; with
//! `TM_TEST_POSTGRES=postgres://user@host:port/db` (scripts/test.sh sets it for a second run of
//! the storage-relevant test modules, on its throw-away cluster), a fresh PostgreSQL database
//! per harness on that server instead. The harness's `db` path stays the key: every host of
//! one harness (a second process, a checker) shares that database's store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use host_example::crypto::{TokenCipher, TokenKey};
use host_example::store::{PgStore, SqliteStore, Store};
use rand::RngCore;

/// The server the harnesses store in, if `TM_TEST_POSTGRES` names one.
pub fn postgres_base() -> Option<String> {
    std::env::var("TM_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// `true` when running on PostgreSQL: a test that reads the SQLite file itself says so and
/// returns (it runs, and is checked, in the default SQLite run).
pub fn on_postgres(test: &str) -> bool {
    let pg = postgres_base().is_some();
    if pg {
        println!("{test}: reads the SQLite file itself; checked in the SQLite run");
    }
    pg
}

struct Opened {
    url: String,
    store: Arc<dyn Store>,
}

fn registry() -> &'static Mutex<BTreeMap<PathBuf, Opened>> {
    static R: OnceLock<Mutex<BTreeMap<PathBuf, Opened>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// On PostgreSQL: create a database for the harness whose file would be `db`, open its store
/// (sealed with `key`) and remember it under `db`. Nothing on SQLite.
pub async fn prepare(db: &Path, key: &TokenKey) {
    let Some(base) = postgres_base() else {
        return;
    };
    let mut suffix = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut suffix);
    let name = format!(
        "tm_h_{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let (admin, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("TM_TEST_POSTGRES={base}: {e}"));
    let task = tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(admin);
    let _ = task.await;
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    let store = PgStore::open(&url, TokenCipher::new(key)).await.unwrap();
    registry().lock().unwrap().insert(
        db.to_owned(),
        Opened {
            url,
            store: Arc::new(store),
        },
    );
}

/// The store for `db`: the PostgreSQL one [`prepare`] opened for it, else a SQLite file.
pub fn store(db: &Path, key: &TokenKey) -> Arc<dyn Store> {
    if let Some(o) = registry().lock().unwrap().get(db) {
        return Arc::clone(&o.store);
    }
    Arc::new(SqliteStore::open(db, TokenCipher::new(key)).unwrap())
}

/// One value of `sql` (no parameters) on the harness's database, whichever engine: a count
/// as `i64`, anything else as text. PostgreSQL is queried on a thread of its own, so this works
/// from any runtime.
pub fn query_one(db: &Path, sql: &str) -> SqlValue {
    let url = registry().lock().unwrap().get(db).map(|o| o.url.clone());
    match url {
        None => {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.query_row(sql, [], |r| {
                Ok(match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Integer(n) => SqlValue::Int(n),
                    rusqlite::types::ValueRef::Null => SqlValue::Null,
                    v => SqlValue::Text(String::from_utf8_lossy(v.as_bytes()?).into_owned()),
                })
            })
            .unwrap()
        }
        Some(url) => {
            let sql = sql.to_owned();
            std::thread::spawn(move || postgres_sync(&url).query_one(&sql).unwrap())
                .join()
                .unwrap()
        }
    }
}

/// The ciphertext columns of `company`'s row (PostgreSQL only; `None` on SQLite).
pub fn ciphertexts(db: &Path, company: &str) -> Option<Vec<Option<Vec<u8>>>> {
    let url = registry().lock().unwrap().get(db).map(|o| o.url.clone())?;
    let company = company.to_owned();
    let columns = std::thread::spawn(move || {
        let pg = postgres_sync(&url);
        let row = pg
            .runtime
            .block_on(pg.client.query_one(
                "SELECT access_ct, access_nonce, refresh_ct, refresh_nonce
                 FROM authorizations WHERE company = $1",
                &[&company],
            ))
            .unwrap();
        (0..4).map(|i| row.get::<_, Option<Vec<u8>>>(i)).collect()
    })
    .join()
    .unwrap();
    Some(columns)
}

/// One value read by [`query_one`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
    Null,
}

impl SqlValue {
    pub fn int(&self) -> i64 {
        match self {
            SqlValue::Int(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }
    pub fn text(&self) -> &str {
        match self {
            SqlValue::Text(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }
}

/// A blocking client (a runtime of its own), for a thread outside the test's runtime.
struct SyncPg {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl SyncPg {
    fn query_one(&self, sql: &str) -> Result<SqlValue, tokio_postgres::Error> {
        self.runtime.block_on(async {
            let rows = self.client.simple_query(sql).await?;
            let row = rows
                .into_iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .expect("one row");
            Ok(match row.get(0) {
                None => SqlValue::Null,
                Some(s) => s
                    .parse::<i64>()
                    .map_or_else(|_| SqlValue::Text(s.to_owned()), SqlValue::Int),
            })
        })
    }
}

fn postgres_sync(url: &str) -> SyncPg {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    });
    SyncPg { runtime, client }
}
