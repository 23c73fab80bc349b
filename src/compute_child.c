/*-------------------------------------------------------------------------
 *
 * compute_child.c
 *	  Uninterruptible numerics in a child process that a cancel kills.
 *
 * LAPACK's eigensolver runs minutes at large n in calls that cannot be
 * stopped; a thread running them could not be stopped either.  So the
 * backend forks a child that computes on a shared anonymous mapping and
 * kills it (SIGKILL) on cancel, on error and at process exit.  The child is
 * no postmaster child and must not behave like one: it detaches from the
 * main shared memory segment, runs with default signal handlers, calls no
 * PostgreSQL function after that, and ends with _exit (no atexit or
 * on_proc_exit handler runs).  PR_SET_PDEATHSIG kills it if the backend
 * dies without cleaning up (kill -9).  See docs/eigensolver.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port.h"
#include "storage/ipc.h"
#include "storage/pg_shmem.h"

#include "compute_child.h"
#include "eigh.h"
#include "gram.h"

#include <cblas.h>

/* the child's exit code when it could not allocate its workspace */
#define CHILD_NO_MEMORY 101

/* What the backend and the child share: a header, then the matrix and w. */
typedef struct ChildShared
{
	volatile double fraction;	/* the child's progress */
	volatile int status;		/* the child's NtkStatus */
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* A, then w */
} ChildShared;

/* the running child, for the exit hook; 0 if none */
static pid_t running_child = 0;

/* Kills and reaps the running child, if any. */
static void
KillChild(void)
{
	pid_t		pid = running_child;

	if (pid <= 0)
		return;
	running_child = 0;
	(void) kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A FATAL error exits without unwinding: the child must not outlive us. */
static void
KillChildAtExit(int code, Datum arg)
{
	KillChild();
}

static int
ChildProgress(void *arg, double fraction)
{
	((ChildShared *) arg)->fraction = fraction;
	return 0;
}

/* Gives the whole pages of [p, p + len) back to the system (zero on reuse). */
static void
ReleasePages(void *p, size_t len)
{
	uintptr_t	page = (uintptr_t) sysconf(_SC_PAGESIZE);
	uintptr_t	lo = ((uintptr_t) p + page - 1) & ~(page - 1);
	uintptr_t	hi = ((uintptr_t) p + len) & ~(page - 1);

	if (hi > lo)
		(void) madvise((void *) lo, hi - lo, MADV_DONTNEED);
}

/* The child: ntk_eigh on the shared mapping, then _exit. */
static pg_attribute_noreturn() void
ChildEigh(ChildShared *sh, const double *A, int n, int threads, pid_t parent)
{
	size_t		nn = (size_t) n * n;
	double	   *S = sh->data;
	double	   *work;
	sigset_t	none;
	int			s;

	/* die with the backend, also if it died before this line */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	/* the backend's handlers would set its flags and its latch */
	for (s = 1; s < NSIG; s++)
		(void) signal(s, SIG_DFL);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
	PGSharedMemoryDetach();

	/*
	 * The matrix into the shared mapping (its first touch: slow without
	 * huge pages, so here rather than in the backend, which answers a
	 * cancel meanwhile), then the last reference to A's pages goes: the
	 * backend dropped its own after the fork.
	 */
	memcpy(S, A, nn * sizeof(double));
	ReleasePages((void *) A, nn * sizeof(double));

	/* the fork stopped OpenBLAS's threads; restart as many */
	ntk_blas_set_threads(threads);
	work = malloc(ntk_eigh_work_len(n) * sizeof(double));
	if (work == NULL)
		_exit(CHILD_NO_MEMORY);
	sh->status = (int) ntk_eigh(S, n, S + nn, work, ChildProgress, sh);
	_exit(sh->status == NTK_OK ? 0 : 1);
}

/* Starts the child on sh and A; returns its pid. */
static pid_t
StartChild(ChildShared *sh, size_t bytes, const double *A, int n)
{
	static bool exit_hook = false;
	int			threads = openblas_get_num_threads();
	pid_t		parent = getpid();
	sigset_t	all;
	sigset_t	old;
	pid_t		pid;
	int			fork_errno;

	if (!exit_hook)
	{
		before_shmem_exit(KillChildAtExit, (Datum) 0);
		exit_hook = true;
	}
	/* no handler of the backend may run in the child before it resets them */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		ChildEigh(sh, A, n, threads, parent);
	fork_errno = errno;
	if (pid > 0)
		running_child = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
	{
		(void) munmap(sh, bytes);
		errno = fork_errno;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start the eigendecomposition process: %m")));
	}
	return pid;
}

/*
 * Waits for the child, calling progress and CHECK_FOR_INTERRUPTS every
 * 10 ms.  Returns false if progress asked to stop; else the wait status.
 */
static bool
WaitChild(pid_t pid, ChildShared *sh, int *status, NtkProgressFn progress, void *arg)
{
	for (;;)
	{
		pid_t		r = waitpid(pid, status, WNOHANG);

		if (r == pid)
		{
			running_child = 0;
			return true;
		}
		if (r < 0 && errno != EINTR)
			elog(ERROR, "could not wait for the eigendecomposition process: %m");
		if (progress && progress(arg, sh->fraction))
			return false;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
}

NtkStatus
ntk_eigh_child(double *A, int n, double *w, NtkProgressFn progress, void *arg)
{
	size_t		nn = (size_t) n * n;
	size_t		bytes;
	ChildShared *sh;
	double	   *S;
	pid_t		pid;
	int			status = 0;
	int			child_status;
	bool		done = false;

	if (n < 1)
		return NTK_BAD_DIMENSION;
	bytes = offsetof(ChildShared, data) + (nn + n) * sizeof(double);
	sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed to map %zu bytes shared with the eigendecomposition process.",
						   bytes)));
	S = sh->data;
	sh->fraction = 0.0;
	sh->status = NTK_LAPACK_ERROR;

	/*
	 * A is overwritten by V at the end: the child copies it, and its memory
	 * is not needed meanwhile.
	 */
	pid = StartChild(sh, bytes, A, n);
	ReleasePages(A, nn * sizeof(double));
	PG_TRY();
	{
		done = WaitChild(pid, sh, &status, progress, arg);
	}
	PG_CATCH();
	{
		KillChild();
		(void) munmap(sh, bytes);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!done)
	{
		KillChild();
		(void) munmap(sh, bytes);
		return NTK_CANCELED;
	}

	child_status = sh->status;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
	{
		memcpy(A, S, nn * sizeof(double));
		memcpy(w, S + nn, (size_t) n * sizeof(double));
	}
	(void) munmap(sh, bytes);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NTK_OK;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && child_status != NTK_OK)
		return (NtkStatus) child_status;
	/* pg_cancel_backend signals the backend's process group, the child too */
	CHECK_FOR_INTERRUPTS();
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_NO_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("The eigendecomposition process failed to allocate %zu bytes.",
						   ntk_eigh_work_len(n) * sizeof(double))));
	if (WIFSIGNALED(status))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("eigendecomposition process was terminated by signal %d: %s",
						WTERMSIG(status), pg_strsignal(WTERMSIG(status)))));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("eigendecomposition process exited with exit code %d",
					WEXITSTATUS(status))));
	return NTK_LAPACK_ERROR;	/* keep the compiler quiet */
}
