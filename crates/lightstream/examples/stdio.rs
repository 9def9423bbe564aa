//! Arrow tables over stdin/stdout: this example starts itself as a child
//! process, sends it tables on its stdin, and reads them back from its stdout.
//!
//! `cargo run -p lightstream --example stdio`
//!
//! The child is a filter in the Unix sense (`... | child | ...`): it reads an
//! Arrow IPC stream on stdin and writes one on stdout. Any Arrow IPC stream
//! producer or consumer can sit at either end, e.g.
//! `lightstream example - | CHILD --child | lightstream cat -`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lightstream::minarrow::{Table, fa_f64, fa_i64, fa_str32, tbl};
use lightstream::{Connection, ReadOptions, Schema, TableReader, TableWriter, WriteOptions};

fn batch(i: i64) -> Table {
    tbl!(
        "cities",
        fa_i64!("rank", i + 1, i + 2),
        fa_str32!("name", "Lisbon", "Oslo"),
        fa_f64!("lat", 38.72, 59.91),
    )
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--child") {
        child().await
    } else {
        parent().await
    }
}

/// The child: copies every table from stdin to stdout as it arrives. Its
/// stdout carries the IPC stream, so anything else it prints goes to stderr.
async fn child() -> lightstream::Result<()> {
    let mut reader = Connection::stdio().reader(ReadOptions::default()).await?;
    let schema = reader.schema().clone();
    let mut writer = Connection::stdio()
        .writer(schema, WriteOptions::default())
        .await?;
    while let Some(table) = reader.next().await {
        writer.write(&table?).await?;
    }
    writer.finish().await?;
    eprintln!("child: echoed {} tables", reader.tables_read());
    Ok(())
}

async fn parent() -> lightstream::Result<()> {
    const BATCHES: i64 = 3;
    let exe =
        std::env::current_exe().map_err(|e| lightstream::Error::io("finding this program", e))?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| lightstream::Error::io("starting the child", e))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");

    // Write to the child's stdin and read its stdout at the same time: the
    // child writes while it reads, and a pipe holds only so much.
    let send = async {
        let schema = Arc::new(Schema::from_table(&batch(0)));
        let mut writer =
            TableWriter::from_async_write(stdin, "child stdin", schema, WriteOptions::default())?;
        for i in 0..BATCHES {
            writer.write(&batch(i)).await?;
        }
        // The end marker; dropping the writer then closes the pipe.
        writer.finish().await
    };
    let receive = async {
        let reader =
            TableReader::from_async_read(stdout, "child stdout", ReadOptions::default()).await?;
        let names: Vec<String> = reader
            .schema()
            .fields
            .iter()
            .map(|f| f.name.clone())
            .collect();
        println!("parent: schema {names:?}");
        reader.read_all().await
    };
    let (sent, tables) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::try_join!(send, receive)
    })
    .await
    .expect("the child answers within 30 s")?;

    for (i, table) in tables.iter().enumerate() {
        println!("parent: table {i}: {} rows", table.n_rows);
        assert_eq!(table.cols, batch(i as i64).cols);
    }
    assert_eq!(tables.len(), BATCHES as usize);

    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the child exits within 10 s")
        .map_err(|e| lightstream::Error::io("waiting for the child", e))?;
    assert!(status.success(), "child failed: {status}");
    println!(
        "parent: sent {sent} bytes, got {} tables back",
        tables.len()
    );
    Ok(())
}
