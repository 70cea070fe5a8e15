//! Funds: deposits and withdrawals of the participants' money at the exchange.

use super::*;

fn funds_error(e: ets_clearing::FundsRejection) -> TradeRejection {
    internal("funds", e)
}

impl Exchange {
    /// A deposit: positive, within the per-deposit bound, and not overflowing the balance.
    pub(super) fn check_deposit(&self, account: AccountId, fen: u64) -> Result<(), TradeRejection> {
        if fen == 0 {
            return Err(TradeRejection::ZeroAmount);
        }
        // A sanity bound far above any participant's funds keeps every sum in range.
        const DEPOSIT_FEN_MAX: u64 = 1_000_000_000_000_000;
        if fen > DEPOSIT_FEN_MAX {
            return Err(TradeRejection::DepositTooLarge {
                fen,
                max_fen: DEPOSIT_FEN_MAX,
            });
        }
        if self.funds.balance(participant(account)).is_some() {
            self.funds
                .check(&FundsOp::Deposit {
                    participant: participant(account),
                    fen,
                })
                .map_err(|_| TradeRejection::BalanceOverflow { fen })?;
        }
        Ok(())
    }

    /// Credits a deposit, opening the participant's funds account on its first one.
    pub(super) fn apply_deposit(
        &mut self,
        account: AccountId,
        fen: u64,
    ) -> Result<(), TradeRejection> {
        let p = participant(account);
        if self.funds.balance(p).is_none() {
            self.funds.open(p).map_err(funds_error)?;
        }
        self.funds.deposit(p, fen).map_err(funds_error)?;
        Ok(())
    }

    /// A withdrawal: positive and within the available (not frozen) funds.
    pub(super) fn check_withdraw(
        &self,
        account: AccountId,
        fen: u64,
    ) -> Result<(), TradeRejection> {
        if fen == 0 {
            return Err(TradeRejection::ZeroAmount);
        }
        let available = self.funds.available(participant(account));
        if fen > available {
            Err(TradeRejection::InsufficientFunds {
                needed: fen,
                available,
            })
        } else {
            Ok(())
        }
    }

    /// Debits a withdrawal.
    pub(super) fn apply_withdraw(
        &mut self,
        account: AccountId,
        fen: u64,
    ) -> Result<(), TradeRejection> {
        self.funds
            .withdraw(participant(account), fen)
            .map_err(funds_error)?;
        Ok(())
    }
}
