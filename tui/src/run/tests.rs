//! The loop driven by fake input, a fake draw and in-process sources.

use super::*;
use crate::source::{FnSource, SourceError};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use gpuwatch_model::api::{AlertsResponse, GpuView, GpusResponse};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn one_gpu() -> GpusResponse {
    GpusResponse {
        gpus: vec![GpuView {
            node: "node-42".into(),
            id: "GPU-42".into(),
            name: "gpu0".into(),
            utilization: Some(0.5),
            ..GpuView::default()
        }],
        newest_point_unix_ms: None,
        points_received: 7,
        nodes: 1,
    }
}

/// The GPU of [`one_gpu`] hangs.
fn one_hang() -> AlertsResponse {
    use gpuwatch_model::{Alert, AlertKind, AlertState, Severity, Timestamp};
    let labels = [("host.name", "node-42"), ("hw.id", "GPU-42")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AlertsResponse {
        alerts: vec![Alert {
            id: "1".into(),
            kind: AlertKind::GpuHang,
            severity: Severity::Critical,
            state: AlertState::Firing,
            summary: "node-42 gpu0 hangs".into(),
            labels,
            value: 0.99,
            started_at: Timestamp::from_unix_millis(0),
            ended_at: None,
        }],
    }
}

fn press(code: KeyCode) -> io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

#[tokio::test]
async fn the_loop_shows_fetched_data_and_quits_on_q() {
    let (keys_tx, keys_rx) = mpsc::channel(4);
    let input = Box::pin(futures::stream::unfold(keys_rx, |mut rx| async move {
        rx.recv().await.map(|ev| (ev, rx))
    }));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _ = keys_tx.send(press(KeyCode::Down)).await;
        let _ = keys_tx.send(press(KeyCode::Char('q'))).await;
    });
    let source =
        Arc::new(FnSource::new("test source", Arc::new(one_gpu)).with_alerts(Arc::new(one_hang)));
    let mut terminal = Terminal::new(TestBackend::new(100, 12)).expect("terminal");
    let mut draws = 0;
    let draw = |app: &App| {
        draws += 1;
        terminal
            .draw(|frame| frame.render_widget(app, frame.area()))
            .map(drop)
            .map_err(|never| match never {})
    };
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        event_loop(source, Duration::from_millis(100), (100, 12), input, draw),
    )
    .await
    .expect("the loop ends on q");
    assert!(result.is_ok(), "{result:?}");
    assert!(draws >= 2, "drew before and after data: {draws}");
    let screen = terminal.backend().to_string();
    assert!(screen.contains("node-42"), "{screen}");
    assert!(screen.contains("test source"), "{screen}");
    assert!(screen.contains("alerts 1 crit"), "{screen}");
    assert!(screen.contains("HANG"), "{screen}");
}

/// A collector that never answers.
struct Silent;

impl Source for Silent {
    fn describe(&self) -> String {
        "silent".into()
    }

    fn fetch(&self) -> futures::future::BoxFuture<'_, Result<GpusResponse, SourceError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn nothing_is_redrawn_without_data_or_input() {
    let mut draws = 0;
    let draw = |_: &App| {
        draws += 1;
        Ok(())
    };
    let input = futures::stream::pending::<io::Result<TermEvent>>();
    let looping = event_loop(
        Arc::new(Silent),
        Duration::from_millis(100),
        (80, 24),
        input,
        draw,
    );
    // A minute of (paused, so instant) time: 600 fetch timer ticks, no answer.
    let result = tokio::time::timeout(Duration::from_secs(60), looping).await;
    assert!(
        result.is_err(),
        "the loop runs until input or a signal ends it"
    );
    assert_eq!(draws, 1, "the first frame only");
}

#[tokio::test]
async fn a_tab_fetches_its_data_at_once() {
    let (keys_tx, keys_rx) = mpsc::channel(4);
    let input = Box::pin(futures::stream::unfold(keys_rx, |mut rx| async move {
        rx.recv().await.map(|ev| (ev, rx))
    }));
    let source = Arc::new(FnSource::new("test source", Arc::new(one_gpu)));
    let mut terminal = Terminal::new(TestBackend::new(100, 12)).expect("terminal");
    let draw = |app: &App| {
        terminal
            .draw(|frame| frame.render_widget(app, frame.area()))
            .map(drop)
            .map_err(|never| match never {})
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = keys_tx.send(press(KeyCode::Char('3'))).await;
        // Far less than the refresh: only an immediate fetch shows the answer.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = keys_tx.send(press(KeyCode::Char('q'))).await;
    });
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        event_loop(source, Duration::from_secs(3), (100, 12), input, draw),
    )
    .await
    .expect("the loop ends on q");
    assert!(result.is_ok(), "{result:?}");
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("this source does not serve nodes"),
        "{screen}"
    );
}

/// A collector that is down, counting how often it is asked.
struct Down(std::sync::atomic::AtomicUsize);

impl Source for Down {
    fn describe(&self) -> String {
        "down".into()
    }

    fn fetch(&self) -> futures::future::BoxFuture<'_, Result<GpusResponse, SourceError>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(std::future::ready(Err(SourceError::Status(503))))
    }
}

#[tokio::test(start_paused = true)]
async fn a_source_that_is_down_is_retried_less_and_less_often() {
    let source = Arc::new(Down(std::sync::atomic::AtomicUsize::new(0)));
    let mut last = String::new();
    let draw = |app: &App| {
        let mut buf = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 160, 10));
        ratatui::widgets::Widget::render(app, buf.area, &mut buf);
        last = buf.content().iter().map(|c| c.symbol()).collect::<String>();
        Ok(())
    };
    let input = futures::stream::pending::<io::Result<TermEvent>>();
    let looping = event_loop(
        source.clone(),
        Duration::from_millis(100),
        (160, 10),
        input,
        draw,
    );
    // Ten seconds: every 100 ms would be 100 tries; doubling waits make 7.
    let _ = tokio::time::timeout(Duration::from_secs(10), looping).await;
    let tries = source.0.load(std::sync::atomic::Ordering::Relaxed);
    assert!((5..=9).contains(&tries), "{tries} tries");
    assert!(last.contains("retrying every"), "{last}");
}

#[tokio::test]
async fn the_loop_ends_when_input_ends() {
    let source = Arc::new(FnSource::new("test", Arc::new(GpusResponse::default)));
    let input = futures::stream::iter(Vec::<io::Result<TermEvent>>::new());
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        event_loop(source, DEFAULT_REFRESH, (80, 24), input, |_| Ok(())),
    )
    .await
    .expect("ends");
    assert!(result.is_ok());
}
