"""LendingMarket: the month of an online-lending market, as the twelve phases of MODEL.md.

The model owns the order of a month and the one random generator (``self.rng``); state lives in
the borrower arrays, the loan book and the platform and regulator agents; decision rules live in
:mod:`sim.policies`. Every phase is vectorised over borrowers and loans.

Random draws happen in a fixed order and in sizes that depend only on the state (borrowers, live
loans, applicants, overdue loans), never on how a phase is implemented, so a given seed gives
bit-identical results however the phases are later optimised.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from . import policies
from .borrowers import Borrower, BorrowerState, start_employment, update_employment
from .config import PlatformPolicy, ScenarioConfig, apply_changes
from .economy import Economy
from .loans import CHARGED_OFF, CLOSED, EPS, LIVE, REPAID, LoanBook, annuity
from .metrics import bucket_of, model_metrics, model_reporters, platform_metrics, platform_reporters
from .platforms import FAILED, Platform
from .regulator import Regulator

BUREAU_MEMORY_MONTHS = 60  # a reported default stays on the record for five years (PBOC rules)
APPLICATION_ROUNDS = 2  # a rejected applicant may try one more platform in the same month


def _total(x: np.ndarray) -> float:
    """Sum of the non-zero entries of a per-loan array, in row order.

    Rows of finished loans are zero here but still present until the book is compacted; summing
    only the others makes totals independent of when compaction runs (a pairwise sum over a
    longer array rounds differently).
    """
    return float(x[x != 0].sum())


def resolve_platform_policies(cfg) -> list[list[tuple[int, PlatformPolicy]]]:
    """Per platform, the policy in force from each change month on (overrides, then schedule)."""
    out = []
    months = sorted({c.month for c in cfg.schedule})
    for k in range(cfg.count):
        changes = [ov.set for ov in cfg.overrides if k in ov.platforms]
        base = apply_changes(PlatformPolicy, cfg.policy, changes) if changes else cfg.policy
        timeline = [(-10**9, base)]
        for month in months:
            changes += [c.set for c in cfg.schedule if c.month == month]
            timeline.append((month, apply_changes(PlatformPolicy, cfg.policy, changes)))
        out.append(timeline)
    return out


class LendingMarket(mesa.Model):
    """An online consumer-lending market with borrowers, platforms and a regulator.

    Args:
        config: a validated scenario (see :func:`sim.config.load_scenario`).
        seed: an int or a ``numpy.random.SeedSequence``; the same seed gives identical results.
    """

    def __init__(self, config: ScenarioConfig, seed: int | np.random.SeedSequence = 0) -> None:
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        super().__init__(rng=np.random.default_rng(ss))
        self.config = config
        self.seed = seed
        self.month = -config.burn_in  # month 1 is the first month after burn-in
        self.n_steps = config.burn_in + config.months

        self.econ_model = Economy(config.economy, self.rng)
        self.econ = self.econ_model.state
        self.borrower_state = BorrowerState(config.borrowers, self.rng)
        start_employment(self.borrower_state, config.economy, self.rng)
        bs = self.borrower_state
        # real Mesa agents, one per borrower, each a view of its row
        self.borrower_agents = [Borrower(self, i) for i in range(bs.n)]

        self.loans = LoanBook(capacity=max(1024, 2 * bs.n))
        self.regulator = Regulator(self, config.regulator)
        self.rules = self.regulator.rules
        self._policy_timelines = resolve_platform_policies(config.platforms)
        self.platforms = self._create_platforms()

        self.month_counts: dict = {}
        self.cumulative = {"defaults": 0, "base": 0, "originations": 0, "recoveries": 0.0, "charged_off_owed": 0.0}
        self.ledger = {"lent": 0.0, "repaid": 0.0, "charged_off": 0.0, "written_down": 0.0}
        self.last_overdue_rate = 0.0
        self.metrics: dict = {}
        self.vintage_originations: dict[int, int] = {}
        self.vintage_defaults: dict[tuple[int, int], int] = {}
        self.datacollector = mesa.DataCollector(model_reporters=model_reporters(),
                                                agenttype_reporters={Platform: platform_reporters()})

    def _create_platforms(self) -> list[Platform]:
        cfg, bcfg = self.config.platforms, self.config.borrowers
        k = np.arange(1, cfg.count + 1, dtype=np.float64)
        share = k ** -cfg.size_concentration
        share /= share.sum()
        # expected book: applications a month x approval (~0.7) x mean request x mean months outstanding
        mean_request = 0.5 * (bcfg.loan_income_min + bcfg.loan_income_max) * bcfg.income_median_monthly
        mean_term = float(np.average(cfg.term_months, weights=cfg.term_weights))
        expected_book = bcfg.count * bcfg.demand_monthly * 0.7 * mean_request * (mean_term + 1) / 2.0
        cap_noise = self.rng.standard_normal(cfg.count)
        platforms = []
        for i in range(cfg.count):
            book_i = expected_book * share[i]
            capital = book_i * cfg.capital_ratio * np.exp(cfg.capital_dispersion * cap_noise[i])
            policy = self._policy_timelines[i][0][1]
            platforms.append(Platform(self, i, float(share[i]), float(capital), float(book_i * cfg.funding_ratio), policy))
        return platforms

    # ================================================================= the month

    def step(self) -> None:
        """One month, in the order of MODEL.md."""
        self.month += 1
        self.advance_economy()            # 1
        self.apply_regulation()           # 2
        self.update_borrowers()           # 3
        self.set_platform_terms()         # 4
        self.originate_loans()            # 5
        self.collect_repayments()         # 6
        self.account_delinquency()        # 7
        self.collect_overdue()            # 8
        self.restructure_and_charge_off() # 9
        self.close_platform_accounts()    # 10
        self.supervise_platforms()        # 11
        self.collect_data()               # 12

    def run(self, progress: bool = False) -> LendingMarket:
        """Run burn-in and all months."""
        steps = range(self.n_steps)
        if progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc=self.config.name, unit="month", leave=False)
        for _ in steps:
            self.step()
        return self

    # ----------------------------------------------------------------- 1-3

    def advance_economy(self) -> None:
        """Phase 1: shocks, income level, benchmark rate; reset this month's counters."""
        self.econ = self.econ_model.advance(self.month)
        book = self.loans
        live = book.view("state") == LIVE
        prev = np.bincount(bucket_of(book.view("dpd")[live]), minlength=5)
        self.month_counts = dict.fromkeys(
            ("new_defaults", "originations", "origination_amount", "applications", "charge_offs", "recoveries",
             "collected_overdue", "writedowns", "cures", "contacts", "incidents", "complaints", "failures",
             "strategic", "restructured", "holidays", "btr_loans", "interest_accrued", "penalty_accrued", "defaulters"), 0)
        self.month_counts["prev_bucket_counts"] = prev
        self.month_counts["rolls"] = np.zeros(4, dtype=np.int64)
        self.month_counts["live_at_start"] = int(live.sum())
        if self.month == 1:  # cumulative default rate counts from the first month after burn-in
            self.cumulative.update(defaults=0, base=int(live.sum()), originations=0)
        for p in self.platforms:
            p.start_month()

    def apply_regulation(self) -> None:
        """Phase 2: scheduled rule changes, early warning, education campaigns."""
        self.rules = self.regulator.apply_rules(self.month, self.last_overdue_rate)
        reach = self.rules.education_reach_monthly
        if reach > 0:
            bs = self.borrower_state
            reached = self.rng.random(bs.n) < reach
            bs.literacy = np.where(reached, bs.literacy + self.rules.education_gain * (1.0 - bs.literacy), bs.literacy)
            self.regulator.education_cost += reached.sum() * self.rules.education_cost_per_person

    def update_borrowers(self) -> None:
        """Phase 3: employment and income."""
        e = self.econ
        update_employment(self.borrower_state, self.config.economy, self.config.borrowers, e.unemployment_target, e.income_level,
                          e.relief, self.rng, price_level=e.price_level)

    # ----------------------------------------------------------------- 4-5

    def set_platform_terms(self) -> None:
        """Phase 4: policies in force, cut-offs, conduct, funding flows, scheduled closures."""
        mandated = self.regulator.mandated_reporters(len(self.platforms))
        for p, timeline in zip(self.platforms, self._policy_timelines):
            policy = [pol for start, pol in timeline if self.month >= start][-1]
            p.set_terms(policy, self.rules, bool(mandated[p.index]))
            p.flow_funding(self.config.platforms, self.econ.funding_withdrawal)
        if self.econ.closures_now:
            active = [p for p in self.platforms if p.is_active]
            weakest = sorted(active, key=lambda p: (p.capital / max(p.book, 1.0), p.index))
            for p in weakest[: self.econ.closures_now]:
                self._fail(p)

    def _platform_array(self, get) -> np.ndarray:
        return np.array([get(p) for p in self.platforms])

    def originate_loans(self) -> None:
        """Phase 5: credit demand, applications, scoring, bureau checks, affordability, new loans.

        Borrowers apply for consumption credit, or - when short of cash last month - to repay
        (borrowing to repay). Each applicant picks a platform by size and reputation; the
        platform sees a noisy score (less noisy for bureau members, which also see bureau
        records and reported loans elsewhere), prices by grade under the APR cap, checks the
        visible debt-to-income and lends within its funds. A rejected applicant may try once more.

        Draws: 4 uniforms per borrower; per round, 1 uniform and 1 normal per applicant.
        """
        bs, book, cfg = self.borrower_state, self.loans, self.config
        bc = cfg.borrowers
        n = bs.n
        u_demand, u_btr, u_amount, u_term = (self.rng.random(n) for _ in range(4))
        live = book.view("state") == LIVE
        borrower = book.view("borrower")
        lb = borrower[live]
        n_loans = np.bincount(lb, minlength=n)
        over_reported = live & book.view("is_reported") & (book.view("dpd") > 0)
        bs.has_bureau_record = (np.bincount(borrower[over_reported], minlength=n) > 0) | (
            self.month - bs.last_bureau_default < BUREAU_MEMORY_MONTHS)
        pressure_b = np.zeros(n)
        np.maximum.at(pressure_b, lb, book.view("pressure")[live])
        bs.max_pressure = pressure_b

        p_btr = np.clip(bc.borrow_to_repay * (1.0 - bs.literacy) + cfg.behaviour.pressure_borrow_push * pressure_b, 0.0, 1.0)
        wants_btr = (bs.shortfall > EPS) & (u_btr < p_btr)
        wants = (wants_btr | (u_demand < bc.demand_monthly)) & (n_loans < bc.max_loans)
        wage_now = bs.wage * self.econ.income_level
        consumption_amount = wage_now * (bc.loan_income_min + (bc.loan_income_max - bc.loan_income_min) * u_amount)
        btr_amount = np.clip(1.1 * bs.shortfall, 0.2 * wage_now, bc.loan_income_max * wage_now)
        amount = np.where(wants_btr, btr_amount, consumption_amount)
        terms = np.asarray(cfg.platforms.term_months)
        tw = np.cumsum(cfg.platforms.term_weights)
        term = np.zeros(n, dtype=terms.dtype)  # only applicants need one (u_term is drawn for all)
        term[wants] = terms[np.minimum(np.searchsorted(tw / tw[-1], u_term[wants], side="right"), len(terms) - 1)]
        if bc.btr_term_months is not None:
            term = np.where(wants_btr, bc.btr_term_months, term)

        # per-platform terms this month
        P = self.platforms
        K = len(P)
        uw = [p.policy.underwriting for p in P]
        member = self._platform_array(lambda p: p.is_reporting)
        noise_sd = np.array([u.scoring_noise_sd * (1.0 - u.bureau_noise_reduction * m) for u, m in zip(uw, member)])
        flag_pen = np.array([u.bureau_flag_penalty for u in uw]) * member
        # lenders whose collection is weaker than the standard regime expect lower recoveries and lend less
        b = cfg.behaviour
        standard = policies.expected_pressure(policies.SERVICER_CONDUCT, b)
        weaker = np.array([standard - policies.expected_pressure(p.conduct, b) if p.conduct else 0.0 for p in P])
        sens = np.array([u.collection_sensitivity for u in uw])
        cutoff = self._platform_array(lambda p: p.cutoff) + self.regulator.cutoff_tightening + sens * weaker
        dti_limit = np.array([u.dti_limit for u in uw])
        verifies = np.array([u.verifies_income for u in uw])
        at_cap = np.array([u.lends_at_cap for u in uw])
        stated_income = np.where(bs.is_employed, bs.income, wage_now)  # what an applicant declares
        apr_base = self._platform_array(lambda p: p.policy.pricing.apr_base_annual)
        apr_slope = self._platform_array(lambda p: p.policy.pricing.apr_risk_slope)
        budget = self._platform_array(lambda p: p.lending_budget(self.rules))
        weight = self._platform_array(lambda p: p.share * p.reputation) * (budget > 0)
        apr_cap = self.regulator.apr_cap(self.econ.benchmark_rate)

        # debt visible to each platform: its own loans, plus all reported loans for members
        inst = book.view("instalment")[live]
        lp = book.view("platform")[live].astype(np.int64)
        rep = book.view("is_reported")[live]
        reported_inst = np.bincount(lb, weights=inst * rep, minlength=n)

        applicants = np.flatnonzero(wants)
        self.month_counts["applications"] += len(applicants)
        for _ in range(APPLICATION_ROUNDS):
            if len(applicants) == 0 or weight.sum() <= 0:
                break
            u_pick = self.rng.random(len(applicants))
            eps = self.rng.standard_normal(len(applicants))
            cw = np.cumsum(weight)
            k = np.minimum(np.searchsorted(cw / cw[-1], u_pick, side="right"), K - 1)
            score = bs.creditworthiness[applicants] + noise_sd[k] * eps - flag_pen[k] * bs.has_bureau_record[applicants]
            apr_req = apr_base[k] + apr_slope[k] * np.maximum(1.0 - score, 0.0)
            # own-platform and own-reported instalments of each applicant at the chosen platform
            pos = np.full(n, -1)
            pos[applicants] = np.arange(len(applicants))
            sel = pos[lb] >= 0
            own = np.zeros(len(applicants))
            own_rep = np.zeros(len(applicants))
            match = sel & (lp == k[np.maximum(pos[lb], 0)])
            np.add.at(own, pos[lb[match]], inst[match])
            np.add.at(own_rep, pos[lb[match]], (inst * rep)[match])
            visible = own + member[k] * (reported_inst[applicants] - own_rep)
            apr = np.minimum(apr_req, apr_cap)
            new_inst = annuity(amount[applicants], apr, term[applicants])
            ok = ((score >= cutoff[k]) & ((apr_req <= apr_cap) | at_cap[k])
                  & (visible + new_inst <= dti_limit[k] * np.where(verifies[k], bs.income[applicants], stated_income[applicants])))
            # lend within each platform's funds, first come first served (applicant order is random)
            amt = np.where(ok, amount[applicants], 0.0)
            order = np.argsort(k, kind="stable")
            cum = np.cumsum(amt[order])
            starts = np.searchsorted(k[order], np.arange(K))
            before = np.r_[0.0, cum][starts]
            within = np.empty(len(applicants), dtype=bool)
            within[order] = cum - before[k[order]] <= budget[k[order]]
            ok &= within
            idx = applicants[ok]
            if len(idx):
                self._book_new_loans(idx, k[ok], amount[idx], apr[ok], term[idx], member[k[ok]], wants_btr[idx])
                spent = np.bincount(k[ok], weights=amount[idx], minlength=K)
                budget -= spent
                weight = weight * (budget > 0)
            applicants = applicants[~ok]

    def _book_new_loans(self, idx, k, amount, apr, term, reported, is_btr) -> None:
        self.loans.add(idx, k, amount, apr, term, self.month, reported)
        # borrowing-to-repay proceeds are cash for this month's payments; consumption loans are spent
        np.add.at(self.borrower_state.btr_cash, idx[is_btr], amount[is_btr])
        K = len(self.platforms)
        cnt = np.bincount(k, minlength=K)
        amt = np.bincount(k, weights=amount, minlength=K)
        for p in self.platforms:
            p.flows["originations"] += cnt[p.index]
            p.flows["originated_amount"] += amt[p.index]
        m = self.month_counts
        m["originations"] += len(idx)
        self.cumulative["originations"] += len(idx)
        m["origination_amount"] += float(amount.sum())
        m["btr_loans"] += int(is_btr.sum())
        self.ledger["lent"] += float(amount.sum())
        self.vintage_originations[self.month] = self.vintage_originations.get(self.month, 0) + len(idx)

    # ----------------------------------------------------------------- 6

    def collect_repayments(self) -> None:
        """Phase 6: billing, each borrower's cash and its allocation across loans, strategic default.

        Cash for debt is this month's surplus over essentials, part of savings, any
        borrowing-to-repay proceeds and, under collection pressure, money raised from family or by
        cutting consumption below essentials (hardship). Inattentive borrowers (fewer with literacy
        and reminders) miss the month. Charged-off loans in recovery are paid last.

        Draws: 1 uniform per borrower (inattention), 1 normal per live or recovering loan (priorities).
        """
        bs, book, b = self.borrower_state, self.loans, self.config.behaviour
        bc = self.config.borrowers
        n = bs.n
        state = book.view("state")
        live = state == LIVE
        self._prev_dpd = book.view("dpd").copy()
        billed = book.bill(live)
        self._billed = billed

        P = self.platforms
        plat = book.view("platform")
        serviced = self._platform_array(lambda p: p.is_active or self.config.platforms.on_failure == "servicer")
        recovering = (state == CHARGED_OFF) & (book.view("recovery_months_left") > 0) & serviced[plat]
        u_inatt = self.rng.random(n)
        noise = self.rng.standard_normal(int((live | recovering).sum()))

        inattentive = u_inatt < bc.inattention * (1.0 - bs.literacy) * (1.0 - self.rules.reminder_effect * self.rules.reminders)
        due = np.where(live, book.overdue_amount(), 0.0)
        borrower = book.view("borrower")
        income = bs.income
        operating = self._platform_array(lambda p: p.is_active)
        peer = self._platform_array(lambda p: p.default_rate)
        unserviced = ~serviced
        distress = self._platform_array(lambda p: p.distress)
        withhold = live & policies.strategic_default(
            due, income[borrower], bs.willingness[borrower], book.view("is_reported"), book.view("pressure"),
            operating[plat], peer[plat], unserviced[plat], distress[plat] * operating[plat], self._prev_dpd, b)
        pay_due = np.where(withhold | inattentive[borrower], 0.0, due)
        pay_due = np.where(recovering, np.minimum(book.view("recovery_due"), book.view("recovery_balance")), pay_due)

        # the borrower's cash for debt this month
        essentials = bs.essentials * self.econ.price_level + bs.expense
        surplus = income - essentials
        bs.savings = bs.savings + np.minimum(surplus, 0.0)
        hardship = bs.savings < 0
        bs.savings = np.maximum(bs.savings, 0.0)
        btr_cash = bs.btr_cash
        base_budget = np.maximum(surplus, 0.0) + bc.savings_drawdown * bs.savings + btr_cash
        need = np.bincount(borrower, weights=pay_due, minlength=n)
        help_stock = b.mobilisation * bs.support * bs.wage * self.econ.income_level
        mobilisable = np.minimum(bs.max_pressure, 1.0) * help_stock
        mobilised = np.clip(need - base_budget, 0.0, mobilisable)
        budget = base_budget + mobilised

        rows = np.flatnonzero(live | recovering)
        priority = np.full(book.n, -np.inf)
        priority[rows] = policies.repayment_priority(
            book.view("pressure")[rows], book.view("is_reported")[rows], book.view("penalty_growth")[rows],
            bs.literacy[borrower[rows]], noise, bc.priority_noise, b)
        priority[recovering] -= 1e6  # recoveries on charged-off debt come last
        paid = np.zeros(book.n)
        paid[rows] = policies.allocate_payments(budget, pay_due[rows], borrower[rows], priority[rows])

        # apply: live loans through the contract order, recovering loans against their balance
        paid_live = np.where(live, paid, 0.0)
        was_overdue = live & (self._prev_dpd > 0)
        to_pen, to_int, to_prin = book.apply_payments(paid_live)
        rec = np.where(recovering, paid, 0.0)
        book.recovery_balance[: book.n] -= rec
        K = len(P)
        flows = {"penalty_income": to_pen, "interest_income": to_int, "principal_repaid": to_prin,
                 "recoveries": rec, "collected_overdue": np.where(was_overdue, paid_live, 0.0)}
        sums = {key: np.bincount(plat, weights=v, minlength=K) for key, v in flows.items()}
        for p in P:
            for key, v in sums.items():
                p.flows[key] += v[p.index]
        m = self.month_counts
        m["recoveries"] += _total(rec)
        m["collected_overdue"] += _total(flows["collected_overdue"])
        self.ledger["repaid"] += _total(to_prin)
        self.cumulative["recoveries"] += _total(rec)

        # what was left: unspent surplus partly saved, unspent loan proceeds kept, savings drawn
        spent = np.bincount(borrower, weights=paid, minlength=n)
        from_income = np.minimum(spent, np.maximum(surplus, 0.0))
        rest = spent - from_income
        from_btr = np.minimum(rest, btr_cash)
        rest -= from_btr
        from_mob = np.minimum(rest, mobilised)
        from_savings = rest - from_mob
        # buffer-stock saving: save part of what is left until savings reach the target, consume the rest
        target = bc.savings_months * bs.wage * self.econ.income_level
        saved = np.minimum(bc.saving_rate * (np.maximum(surplus, 0.0) - from_income),
                           np.maximum(target - bs.savings, 0.0))
        bs.savings = np.maximum(bs.savings - from_savings + saved + (btr_cash - from_btr), 0.0)
        used = np.divide(from_mob, help_stock, out=np.zeros(n), where=help_stock > 0)
        bs.support = np.clip(bs.support - used + b.support_replenish_monthly * (1.0 - bs.support), 0.0, 1.0)
        bs.is_in_hardship = hardship | (from_mob > EPS)
        bs.hardship_months += bs.is_in_hardship
        bs.btr_cash[:] = 0.0  # proceeds are used (or saved) within the month
        unpaid = np.where(live & ~withhold, pay_due - paid, 0.0)
        bs.shortfall = np.bincount(borrower, weights=unpaid, minlength=n)
        can_pay = budget >= need - EPS
        m["strategic"] += int((withhold & can_pay[borrower]).sum())
        self._paid = paid

        repaid = live & (book.view("months_left") == 0) & (book.owed() < EPS)
        book.state[: book.n][repaid] = REPAID

    # ----------------------------------------------------------------- 7

    def account_delinquency(self) -> None:
        """Phase 7: days past due, penalties, cures and rolls between buckets.

        Days past due count from the oldest unpaid instalment (contractual delinquency), with
        payments going to penalty first. So a loan still owing past-due amounts after payment
        enters M1 at 30 days; while its arrears (including penalty) keep growing its oldest
        instalment stays unpaid and it moves 30 days further each month; if the borrower pays
        the bill *and* last month's penalty, arrears stop growing and it stays; each full
        instalment caught up takes 30 days off. Loans on a payment holiday do not move.
        """
        book, m = self.loans, self.month_counts
        live = book.view("state") == LIVE
        prev = self._prev_dpd
        arrears = book.view("due_principal") + book.view("due_interest") + book.view("penalty")
        is_over = live & (arrears > EPS)
        last = book.view("arrears")
        grew = arrears > last + EPS
        caught_up = np.floor(np.maximum(last - arrears, 0.0) / np.maximum(book.view("instalment"), 1.0))
        dpd = np.where(prev == 0, 30, np.where(grew, prev + 30, np.maximum(prev - 30 * caught_up, 30)))
        on_holiday = live & (book.view("holiday_left") > 0) & (self._billed == 0)
        dpd = np.where(is_over, dpd, 0)
        dpd = np.where(on_holiday, prev, dpd).astype(np.int16)
        book.dpd[: book.n] = np.where(live, dpd, book.view("dpd"))
        book.arrears[: book.n] = np.where(live, arrears, 0.0)

        # penalties on what is past due, under each platform's rule and the regulator's cap
        plat = book.view("platform")
        penalty_acc = np.zeros(book.n)
        overdue_base = book.view("due_principal") + book.view("due_interest")
        outstanding_base = book.view("principal") + book.view("due_interest")
        for p in self.platforms:
            sel = np.flatnonzero(is_over & (plat == p.index) & ~on_holiday)
            if len(sel) == 0:
                continue
            base = outstanding_base if p.policy.penalty.applies_to == "outstanding" else overdue_base
            penalty_acc[sel] = policies.penalty_accrual(
                p.policy.penalty, base[sel], book.view("penalty")[sel], book.view("dpd")[sel],
                book.view("apr")[sel], self.econ.benchmark_rate, self.rules)
        book.penalty[: book.n] += penalty_acc
        book.penalty_growth[: book.n] = penalty_acc / np.maximum(overdue_base, 1.0)  # monthly rate, for priorities
        m["penalty_accrued"] += _total(penalty_acc)
        m["interest_accrued"] += float((book.view("principal") * book.view("apr") / 12.0)[live].sum())

        # rolls and cures among loans live at the start of the month
        was_live = live | (book.view("state") == REPAID)
        b_prev = bucket_of(prev)
        b_new = bucket_of(book.view("dpd"))
        for j in range(4):
            m["rolls"][j] = int((was_live & (b_prev == j) & (b_new == j + 1) & live).sum())
        m["cures"] = int((was_live & (prev > 0) & (b_new == 0)).sum())
        new_default = live & (prev <= 90) & (book.view("dpd") > 90)
        m["new_defaults"] = int(new_default.sum())
        m["defaulters"] = int(np.unique(book.view("borrower")[new_default]).size)
        self.cumulative["defaults"] += m["new_defaults"]
        book.has_defaulted[: book.n] |= new_default
        bs = self.borrower_state
        reported_default = new_default & book.view("is_reported")
        bs.last_bureau_default[book.view("borrower")[reported_default]] = self.month
        K = len(self.platforms)
        nd = np.bincount(plat[new_default], minlength=K)
        for p in self.platforms:
            p.flows["new_defaults"] += nd[p.index]
            p.default_rate = nd[p.index] / max(p.live_loans, 1)
        if new_default.any():
            vint = book.view("vintage")[new_default]
            mob = self.month - vint
            keys, counts = np.unique(np.stack([vint, mob]), axis=1, return_counts=True)
            for (v, mb), c in zip(keys.T, counts):
                self.vintage_defaults[(int(v), int(mb))] = self.vintage_defaults.get((int(v), int(mb)), 0) + int(c)

    # ----------------------------------------------------------------- 8

    def collect_overdue(self) -> None:
        """Phase 8: collection contacts under each platform's conduct and the rules; incidents, complaints.

        Active platforms collect under their own conduct; a failed platform's book is collected by
        a servicer under standard conduct, or by nobody (``on_failure: unserviced``). ``targeted``
        moves contacts towards loans whose borrowers are employed and less far behind (higher
        expected cure per contact) at the same total.

        Draws: per overdue loan, 1 Poisson (incidents) and 1 binomial (complaints).
        """
        book, bs, b, m = self.loans, self.borrower_state, self.config.behaviour, self.month_counts
        live = book.view("state") == LIVE
        dpd = book.view("dpd")
        over = np.flatnonzero(live & (dpd > 0))
        book.pressure[: book.n] = 0.0
        plat = book.view("platform")[over]
        bucket = bucket_of(dpd[over]) - 1
        K = len(self.platforms)
        servicer = policies.practised_conduct(policies.SERVICER_CONDUCT, self.rules, True)
        conducts = []
        for p in self.platforms:
            if p.is_active:
                conducts.append(p.conduct)
            elif self.config.platforms.on_failure == "servicer":
                conducts.append(servicer)
            else:
                conducts.append(None)
        table = np.array([c.contacts_by_bucket if c is not None else np.zeros(4) for c in conducts])
        third = np.array([c is not None and c.third_party for c in conducts])
        night = np.array([c is not None and c.night_contact for c in conducts])
        cost = np.array([c.cost_per_contact if c is not None else 0.0 for c in conducts])
        targeted = np.array([c is not None and c.targeted for c in conducts])
        contacts = table[plat, bucket]
        if targeted.any():
            employed = bs.is_employed[book.view("borrower")[over]]
            w = np.where(employed, 1.5, 0.25) * np.where(bucket <= 1, 1.2, 0.6)
            t = targeted[plat]
            # keep each targeted platform's total: rescale weights to mean one within it
            wsum = np.bincount(plat[t], weights=w[t], minlength=K)
            wn = np.bincount(plat[t], minlength=K)
            scale = np.where(wsum > 0, wn / np.maximum(wsum, 1e-12), 0.0)
            contacts = np.where(t, contacts * w * scale[plat], contacts)
        pressure = policies.collection_pressure(contacts, third[plat], night[plat], b)
        book.pressure[over] = pressure
        p_inc = policies.harassment_probability(contacts, third[plat], night[plat], b)
        incidents = self.rng.poisson(contacts * p_inc)
        borrower = book.view("borrower")[over]
        complaints = self.rng.binomial(incidents, b.complaint_probability * bs.literacy[borrower])
        np.add.at(bs.contacts_received, borrower, np.rint(contacts).astype(np.int64))
        np.add.at(bs.harassment_incidents, borrower, incidents)
        np.add.at(bs.complaints_filed, borrower, complaints)
        c_k = np.bincount(plat, weights=contacts, minlength=K)
        i_k = np.bincount(plat, weights=incidents, minlength=K)
        q_k = np.bincount(plat, weights=complaints, minlength=K)
        for p in self.platforms:
            p.flows["contacts"] += c_k[p.index]
            p.flows["incidents"] += i_k[p.index]
            p.flows["complaints"] += q_k[p.index]
            p.flows["collection_cost"] += c_k[p.index] * cost[p.index]
        m["contacts"] += float(contacts.sum())
        m["incidents"] += int(incidents.sum())
        m["complaints"] += int(complaints.sum())

    # ----------------------------------------------------------------- 9

    def restructure_and_charge_off(self) -> None:
        """Phase 9: forbearance mandates, restructuring offers, charge-offs, recovery countdown.

        Restructuring waives penalties and past-due interest and puts past-due principal back on
        schedule over a longer term (``extension``: term + N months; ``instalment``: at least N
        months), or also writes down part of the principal (``writedown``); the loan is current
        again. Platforms offer it to overdue borrowers with verified hardship while the loan is
        not yet in default, when recovery that way beats the charge-off they expect.

        Draws: 1 uniform per restructuring-eligible loan.
        """
        book, bs, m = self.loans, self.borrower_state, self.month_counts
        state = book.view("state")
        live = state == LIVE
        borrower = book.view("borrower")
        plat = book.view("platform")
        fm = self.rules.forbearance
        if fm.enabled and self.econ.in_declared_shock:
            eligible = live & ~bs.is_employed[borrower] & ~book.view("had_holiday")
            book.holiday_left[: book.n][eligible] = fm.holiday_months
            book.had_holiday[: book.n] |= eligible
            m["holidays"] += int(eligible.sum())

        dpd = book.view("dpd")
        hardship = ~bs.is_employed | bs.is_in_hardship
        pol = [p.policy.restructuring for p in self.platforms]
        enabled = np.array([r.enabled for r in pol]) & self._platform_array(lambda p: p.is_active)
        lo = np.array([r.min_dpd for r in pol])
        hi = np.array([r.max_dpd for r in pol])
        cand = np.flatnonzero(live & enabled[plat] & (dpd >= lo[plat]) & (dpd <= hi[plat])
                              & hardship[borrower] & ~book.view("is_restructured"))
        u = self.rng.random(len(cand))
        take = np.array([r.take_up for r in pol])
        rows = cand[u < take[plat[cand]]]
        if len(rows):
            self._restructure(rows, pol)

        # charge-off of loans at the configured days past due
        co_day = self.config.platforms.charge_off_dpd
        K = len(self.platforms)
        recovering = state == CHARGED_OFF
        book.recovery_months_left[: book.n] -= recovering.astype(np.int16)
        done = recovering & ((book.view("recovery_months_left") <= 0) | (book.view("recovery_balance") < EPS))
        book.state[: book.n][done] = CLOSED
        # dpd labels are the upper ends of 30-day ranges (180 = 151-180 days): charge off past the day
        co = np.flatnonzero(live & (dpd > co_day))
        if len(co):
            principal = book.view("principal")[co]
            owed = book.owed()[co]
            amounts = np.bincount(plat[co], weights=principal, minlength=K)
            for p in self.platforms:
                p.flows["charge_offs"] += amounts[p.index]
            m["charge_offs"] += float(principal.sum())
            self.cumulative["charged_off_owed"] += float(owed.sum())
            self.ledger["charged_off"] += float(principal.sum())
            months = self.config.platforms.recovery_months
            book.state[co] = CHARGED_OFF if months > 0 else CLOSED
            book.recovery_balance[co] = owed
            book.recovery_due[co] = self.config.platforms.recovery_due_share * owed
            book.recovery_months_left[co] = months
            book.principal[co] = 0.0
            book.due_principal[co] = 0.0
            book.due_interest[co] = 0.0
            book.penalty[co] = 0.0

    def _restructure(self, rows: np.ndarray, pol) -> None:
        book, m = self.loans, self.month_counts
        plat = book.view("platform")[rows]
        kinds = np.array([r.kind for r in pol])[plat]
        ext = np.array([r.extension_months for r in pol])[plat]
        share = np.array([r.writedown_share for r in pol])[plat]
        left = book.view("months_left")[rows].astype(np.int64)
        new_left = np.where(kinds == "instalment", np.maximum(left, ext), left + ext)
        written = np.where(kinds == "writedown", share * book.view("principal")[rows], 0.0)
        book.principal[rows] -= written
        book.due_principal[rows] = 0.0
        book.due_interest[rows] = 0.0
        book.penalty[rows] = 0.0
        book.dpd[rows] = 0
        book.months_left[rows] = new_left
        book.instalment[rows] = annuity(book.principal[rows], book.apr[rows], new_left)
        book.is_restructured[rows] = True
        wk = np.bincount(plat, weights=written, minlength=len(self.platforms))
        for p in self.platforms:
            p.flows["writedowns"] += wk[p.index]
        m["writedowns"] += float(written.sum())
        m["restructured"] += len(rows)
        self.ledger["written_down"] += float(written.sum())

    # ----------------------------------------------------------------- 10-12

    def close_platform_accounts(self) -> None:
        """Phase 10: book figures, profit into capital, reputation, failure and exit."""
        platform_metrics(self)
        cfg = self.config.platforms
        for p in self.platforms:
            p.close_accounts(cfg)
            p.update_reputation(cfg)
            if p.should_fail(cfg):
                self._fail(p)

    def _fail(self, p: Platform) -> None:
        p.exit(FAILED, self.month)
        self.month_counts["failures"] += 1

    def supervise_platforms(self) -> None:
        """Phase 11: inspections, fines, licence revocations."""
        self.regulator.supervise(self.platforms, self.rng, self.month)

    def collect_data(self) -> None:
        """Phase 12: monthly outputs, then drop finished loans (at a fixed point of the month)."""
        self.metrics = model_metrics(self)
        self.last_overdue_rate = self.metrics["overdue_rate"]
        self.datacollector.collect(self)
        self.loans.compact(min_dead_share=0.25)

    # ================================================================= outputs

    def model_frame(self) -> pd.DataFrame:
        """One row a month (burn-in months have ``month <= 0`` and ``is_burn_in``)."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return df[list(df.columns)]

    def platform_frame(self) -> pd.DataFrame:
        """One row per platform and month."""
        df = self.datacollector.get_agenttype_vars_dataframe(Platform).reset_index()
        steps = df.pop("Step").astype(int)
        df.insert(0, "month", steps - self.config.burn_in)
        df = df.rename(columns={"AgentID": "agent_id"})
        df.insert(1, "platform", df["name"].str[1:].astype(int))
        return df

    def vintage_frame(self) -> pd.DataFrame:
        """Cumulative default by vintage (origination month) and months on book."""
        rows = []
        for v, n0 in sorted(self.vintage_originations.items()):
            cum = 0
            for mob in range(0, self.month - v + 1):
                cum += self.vintage_defaults.get((v, mob), 0)
                rows.append((v, mob, n0, cum, cum / n0 if n0 else 0.0))
        return pd.DataFrame(rows, columns=["vintage", "months_on_book", "loans", "cum_defaults", "cum_default_rate"])
