//! The workers that sync a channel's folders: up to `connections` of them,
//! each on its own pair of stores, taking whole folders in turn from one
//! queue. Each worker has a helper thread that carries out the plans that
//! need only the near store (see [`Synced::NearOnly`]) while the worker goes
//! on with its next folders, whose far sides it has opened ahead: the next
//! one once a plan needs nothing more from the far store, and, when the
//! folders look changed on the far side alone (flags, expunges), several at
//! once, so the server opens them while this side works.

use super::exec::Stores;
use super::folder::{
    sync_folder_with, FolderResult, NextFolder, OpenAhead, RunOptions, Synced, Worker,
};
use super::plan::Policy;
use super::retry::RetryPolicy;
use super::settled;
use super::split_fetch::SpareConnections;
use crate::config::ChannelConfig;
use crate::mail::{Pair, Side};
use crate::state::{state_path, StateBatch, StateFile};
use crate::store::StoreOpener;
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A first connection slower than this means a distant server: extra
/// workers connect at once (see [`sync_folders`]).
pub(super) const DISTANT_SERVER: Duration = Duration::from_millis(20);

/// How folders may be spread over connections.
pub struct Workers<'a> {
    /// Opens a new connection to each side (a new handle on a Maildir):
    /// one per worker.
    pub open: Pair<&'a StoreOpener>,
    /// The most connections (pairs of stores) at once.
    pub connections: usize,
    /// How long the first pair took to open.
    pub connect_cost: Duration,
}

/// What a folder's message sync needs besides its stores; shared by the
/// workers.
pub(super) struct FolderContext<'a> {
    pub state_dir: &'a Path,
    pub channel: &'a ChannelConfig,
    /// The far name of a folder, by its channel (near) name.
    pub far_name: &'a (dyn Fn(&str) -> String + Sync),
    pub policy: &'a Policy,
    pub options: &'a RunOptions,
    pub states: &'a StateBatch,
}

impl FolderContext<'_> {
    fn state_file(&self, name: &str) -> StateFile {
        StateFile::new(state_path(self.state_dir, &self.channel.name, name))
    }

    /// What is known of a folder before any worker starts: whether it can
    /// be skipped as unchanged since it was last left settled (told
    /// without opening it, see [`super::settled`]), else whether it looks
    /// changed on the far side alone.
    pub fn before_sync(&self, stores: &mut Stores<'_>, name: &str) -> BeforeSync {
        let far_name = (self.far_name)(name);
        let Ok(versions) = settled::versions_of(stores, Pair::new(far_name.as_str(), name)) else {
            return BeforeSync::ToSync {
                far_changes_only: false,
            };
        };
        let state_file = self.state_file(name);
        let head = state_file.load_head();
        match settled::skip_if_unchanged(&state_file, head.as_ref(), &versions, self.policy, name) {
            Some(skipped) => BeforeSync::Skipped(skipped),
            None => BeforeSync::ToSync {
                far_changes_only: settled::far_changes_only(
                    head.as_ref(),
                    &versions,
                    &mut *stores.far,
                ),
            },
        }
    }

    /// What opening `name` ahead needs.
    fn next_folder(&self, name: &str) -> NextFolder {
        NextFolder {
            far_name: (self.far_name)(name),
            state_file: self.state_file(name),
        }
    }

    /// Syncs a folder pair, up to a plan that needs only the near store
    /// (left to the caller); after a transient failure (a dropped or timed
    /// out connection, throttling) it reconnects and tries again, as
    /// [`RetryPolicy`] allows. Safe at any point: the next attempt replays
    /// the journal of the failed one. `next` gives the worker's next
    /// folder, opened ahead when this one is done with the far store;
    /// `spare_far` may lend a second connection for a long fetch.
    fn sync(
        &self,
        stores: &mut Stores<'_>,
        name: &str,
        ahead: OpenAhead<'_>,
        spare_far: Option<&SpareConnections<'_>>,
    ) -> Result<Synced> {
        if self.options.stop_on_signal {
            // A signal came: the folders not begun are left as they are.
            crate::interrupt::check()?;
        }
        log::info!("{}: folder {name}", self.channel.name);
        let far_name = (self.far_name)(name);
        let state_file = self.state_file(name);
        let folders = Pair::new(far_name.as_str(), name);
        let retry = RetryPolicy::default();
        let worker = Worker {
            saver: self.states,
            ahead,
            hand_off: true,
            spare_far,
        };
        let sync = |stores: &mut Stores<'_>| {
            sync_folder_with(
                stores,
                folders,
                &state_file,
                self.policy,
                self.options,
                &worker,
            )
        };
        let mut outcome = sync(stores);
        let mut retries = 0;
        while let Err(err) = &outcome {
            retries += 1;
            let Some(delay) = retry.delay(retries, err) else {
                break;
            };
            if self.options.stop_on_signal && crate::interrupt::requested() {
                break;
            }
            log::info!(
                "{}: folder {name}: {err:#}; trying again in {} s ({retries} of {})",
                self.channel.name,
                delay.as_secs_f32(),
                retry.retries
            );
            std::thread::sleep(delay);
            outcome = reconnect(stores).and_then(|()| sync(stores));
        }
        outcome
    }

    /// Carries out what `synced` leaves to do, and logs the folder's result.
    fn finish(&self, synced: Result<Synced>) -> Result<FolderResult> {
        let result = synced?.finish(self.options, self.states)?;
        let report = &result.report;
        log::info!(
            "{}: folder {}: {} new to far, {} new to near, {} flag changes, {} deletions",
            self.channel.name,
            result.folder,
            report.copied[Side::Far],
            report.copied[Side::Near],
            report.flagged[Side::Far] + report.flagged[Side::Near],
            report.deleted[Side::Far] + report.deleted[Side::Near],
        );
        Ok(result)
    }
}

/// What [`FolderContext::before_sync`] tells of a folder.
pub(super) enum BeforeSync {
    Skipped(FolderResult),
    ToSync { far_changes_only: bool },
}

/// A folder to sync, with what is expected of it.
pub(super) struct ToSync<'a> {
    pub name: &'a str,
    /// See [`settled::far_changes_only`].
    pub far_changes_only: bool,
}

/// The most folders a worker opens ahead on a guess.
const OPEN_AHEAD_ON_A_GUESS: usize = 4;

/// The folders to sync, handed out one at a time, and their outcomes.
struct Queue<'a> {
    names: Vec<&'a str>,
    far_changes_only: Vec<bool>,
    next: AtomicUsize,
    /// Set once every folder has been taken: a worker still waiting to
    /// connect then has nothing to do.
    all_taken: (Mutex<bool>, Condvar),
    outcomes: Vec<Mutex<Option<Result<FolderResult>>>>,
    /// Folders whose worker is done with them.
    finished: AtomicUsize,
    /// Time the finished folders kept their worker waiting (for the
    /// server, the disk) rather than computing: only that part is gained
    /// by more connections.
    waiting_nanos: AtomicU64,
}

impl<'a> Queue<'a> {
    fn new(folders: &[ToSync<'a>]) -> Queue<'a> {
        Queue {
            names: folders.iter().map(|folder| folder.name).collect(),
            far_changes_only: folders.iter().map(|f| f.far_changes_only).collect(),
            next: AtomicUsize::new(0),
            all_taken: (Mutex::new(false), Condvar::new()),
            outcomes: folders.iter().map(|_| Mutex::new(None)).collect(),
            finished: AtomicUsize::new(0),
            waiting_nanos: AtomicU64::new(0),
        }
    }

    /// The index of the next folder nobody took (past the end when all
    /// are taken).
    fn take(&self) -> usize {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if index + 1 >= self.names.len() {
            if let Ok(mut taken) = self.all_taken.0.lock() {
                *taken = true;
            }
            self.all_taken.1.notify_all();
        }
        index
    }

    /// See [`settled::far_changes_only`].
    fn looks_far_changes_only(&self, index: usize) -> bool {
        self.far_changes_only.get(index) == Some(&true)
    }

    fn untaken(&self) -> usize {
        self.names
            .len()
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }

    fn put(&self, index: usize, outcome: Result<FolderResult>) {
        if let Some(Ok(mut slot)) = self.outcomes.get(index).map(Mutex::lock) {
            *slot = Some(outcome);
        }
    }

    /// The outcomes in the order of the names.
    fn into_outcomes(self) -> Vec<Result<FolderResult>> {
        self.outcomes
            .into_iter()
            .zip(self.names)
            .map(|(slot, name)| {
                slot.into_inner().ok().flatten().unwrap_or_else(|| {
                    Err(anyhow::anyhow!(
                        "folder {name} was not synced: its worker stopped"
                    ))
                })
            })
            .collect()
    }
}

/// One worker: takes folders from `queue` until none is left and syncs
/// them on `stores`; a plan that needs only the near store goes to the
/// worker's helper thread. A long fetch may take a connection of
/// `spare_far`.
fn work(
    context: &FolderContext<'_>,
    queue: &Queue<'_>,
    stores: &mut Stores<'_>,
    spare_far: Option<&SpareConnections<'_>>,
) {
    let mut index = queue.take();
    if index >= queue.names.len() {
        return;
    }
    std::thread::scope(|scope| {
        let (to_helper, for_helper) = mpsc::channel::<(usize, Synced)>();
        scope.spawn(move || {
            for (index, synced) in for_helper {
                queue.put(index, context.finish(Ok(synced)));
            }
        });
        // Folders this worker took before their turn, to open them ahead,
        // in order; with whether their SELECT was sent.
        let mine: RefCell<VecDeque<(usize, bool)>> = RefCell::new(VecDeque::new());
        while let Some(name) = queue.names.get(index) {
            let current = index;
            let ahead = |planned: bool| {
                to_open_ahead(context, queue, &mut mine.borrow_mut(), current, planned)
            };
            let (wall, cpu) = (Instant::now(), thread_cpu_time());
            let synced = context.sync(stores, name, &ahead, spare_far);
            let waited = wall
                .elapsed()
                .saturating_sub(thread_cpu_time().saturating_sub(cpu));
            queue
                .waiting_nanos
                .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
            queue.finished.fetch_add(1, Ordering::Relaxed);
            match synced {
                Ok(near_only @ Synced::NearOnly(_)) => {
                    if let Err(mpsc::SendError((index, synced))) =
                        to_helper.send((index, near_only))
                    {
                        queue.put(index, context.finish(Ok(synced)));
                    }
                }
                other => queue.put(index, context.finish(other)),
            }
            let taken_before = mine.borrow_mut().pop_front();
            index = taken_before.map_or_else(|| queue.take(), |(taken, _)| taken);
        }
        // The helper ends once it has carried out what it was sent.
        drop(to_helper);
    });
}

/// The folders to open ahead now (see [`OpenAhead`]) for a worker syncing
/// the folder `current`, taking them from `queue` into `mine` (the folders
/// it took before their turn, with whether their SELECT was sent).
fn to_open_ahead(
    context: &FolderContext<'_>,
    queue: &Queue<'_>,
    mine: &mut VecDeque<(usize, bool)>,
    current: usize,
    planned: bool,
) -> Vec<NextFolder> {
    let wanted = match (queue.looks_far_changes_only(current), planned) {
        (true, _) => OPEN_AHEAD_ON_A_GUESS,
        (false, true) => 1,
        (false, false) => 0,
    };
    // Taken up to a folder not expected to go the same way: the ones after
    // it would be opened ahead in vain.
    while mine.len() < wanted
        && mine
            .back()
            .is_none_or(|&(last, _)| queue.looks_far_changes_only(last))
    {
        let taken = queue.take();
        if taken >= queue.names.len() {
            break;
        }
        mine.push_back((taken, false));
    }
    let mut folders = Vec::new();
    for (taken, sent) in mine.iter_mut().take(wanted) {
        if let (false, Some(name)) = (*sent, queue.names.get(*taken)) {
            *sent = true;
            folders.push(context.next_folder(name));
        }
    }
    folders
}

/// Syncs the folders `names` with up to `workers.connections` workers (one
/// without `workers`): the first uses `main`, each other opens its own pair
/// of stores. A worker whose connection cannot be made simply does not
/// start; the others take its folders. Returns the outcomes in the order of
/// `names`.
pub(super) fn sync_folders(
    main: &mut Stores<'_>,
    workers: Option<&Workers<'_>>,
    context: &FolderContext<'_>,
    folders: &[ToSync<'_>],
) -> Vec<Result<FolderResult>> {
    let queue = Queue::new(folders);
    // The connections beyond the main one, which an extra worker or a
    // second fetch of a big folder takes while it needs it.
    let spare = workers.map(|w| SpareConnections::new(w.open[Side::Far], w.connections.max(1) - 1));
    let spare = spare.as_ref();
    let count = workers.map_or(1, |w| w.connections.clamp(1, folders.len().max(1)));
    let Some(workers) = workers.filter(|_| count > 1) else {
        work(context, &queue, main, spare);
        return queue.into_outcomes();
    };
    // A new connection costs about as long as the first one took, and a
    // server process. Against a distant server (a slow first connection)
    // the workers connect at once: every folder then waits on round trips.
    // Nearby, a worker first waits that long, then connects only if the
    // waiting the untaken folders look like they will do (judged by the
    // folders finished so far; none finished means they are slow) is worth
    // more than two connections. A resync with little to do then stays on
    // one connection, and a machine with few cores is not made to serve
    // connections that would only compete for them.
    let join_when_needed = || {
        if workers.connect_cost < DISTANT_SERVER {
            let all_taken = &queue.all_taken;
            if let Ok(taken) = all_taken.0.lock() {
                let waited = all_taken
                    .1
                    .wait_timeout_while(taken, workers.connect_cost, |taken| !*taken);
                if waited.map_or(true, |(taken, _)| *taken) {
                    return;
                }
            }
            let done = queue.finished.load(Ordering::Relaxed) as u64;
            let untaken = queue.untaken() as u64;
            let waiting = queue.waiting_nanos.load(Ordering::Relaxed);
            if untaken == 0
                || (done > 0
                    && waiting / done * untaken < 2 * workers.connect_cost.as_nanos() as u64)
            {
                return;
            }
        }
        let Some(_taken) = spare.and_then(SpareConnections::take) else {
            return;
        };
        let (Ok(mut far), Ok(mut near)) = (
            workers.open[Side::Far].open(),
            workers.open[Side::Near].open(),
        ) else {
            return;
        };
        work(
            context,
            &queue,
            &mut Stores {
                far: &mut *far,
                near: &mut *near,
            },
            spare,
        );
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(count)
        .thread_name(|n| format!("mailferry-worker-{n}"))
        .build();
    match pool {
        Ok(pool) => pool.scope(|scope| {
            for _ in 1..count {
                scope.spawn(|_| join_when_needed());
            }
            work(context, &queue, main, spare);
        }),
        // No threads to be had: one worker, as without parallelism.
        Err(_) => work(context, &queue, main, spare),
    }
    queue.into_outcomes()
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the valid pointer.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        now.tv_sec.max(0) as u64,
        now.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// New connections for both sides (a Maildir has none to renew). A failure
/// here is the attempt's failure, retried or not like any other.
fn reconnect(stores: &mut Stores<'_>) -> Result<()> {
    for side in Side::BOTH {
        let store = stores.side(side);
        let description = store.describe();
        store
            .reconnect()
            .with_context(|| format!("reconnecting to {description}"))?;
    }
    Ok(())
}
