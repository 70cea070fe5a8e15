//! Emissions of one unit from its activity data (DOMAIN.md §3).

use ets_policy::MrvRules;
use ets_types::{Decimal, FuelUse, UnitActivity, UnitId};
use serde::{Deserialize, Serialize};

use crate::MrvError;

/// A unit's emissions in one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitEmissions {
    /// tCO2 from fuel combustion, unrounded.
    pub combustion: Decimal,
    /// tCO2 from purchased electricity, unrounded; 0 where the rules leave it out.
    pub electricity: Decimal,
    /// `combustion + electricity` rounded once to whole tonnes with the rules' rounding.
    pub total_t: u64,
}

/// Emissions of one unit:
/// `Σ fuels FC × NCV × CC × OF × 44/12` (or `FC × elemental_carbon × OF × 44/12` when measured
/// elemental carbon is given), plus `purchased MWh × grid factor` when the rules count it.
/// Parameters left `None` take the rules' default for the fuel.
///
/// # Errors
/// An unknown fuel key, a negative value, an oxidation rate above 1, or an overflow, naming the
/// unit and the fuel.
pub fn unit_emissions(
    activity: &UnitActivity,
    rules: &MrvRules,
) -> Result<UnitEmissions, MrvError> {
    let unit = &activity.unit;
    let overflow = || MrvError::Overflow { unit: unit.clone() };
    non_negative(unit, activity.purchased_electricity_mwh, || {
        "purchased_electricity_mwh".to_string()
    })?;

    // Carbon is summed first and converted to CO2 once, so the only inexact step (the division
    // by 12) happens a single time per unit.
    let mut carbon_t = Decimal::ZERO;
    for fuel in &activity.fuels {
        let c = fuel_carbon_t(unit, fuel, rules)?;
        carbon_t = carbon_t.checked_add(c).ok_or_else(overflow)?;
    }
    let combustion = co2_from_carbon(carbon_t).ok_or_else(overflow)?;

    let electricity = if rules.include_purchased_electricity {
        activity
            .purchased_electricity_mwh
            .checked_mul(rules.grid_factor_t_per_mwh)
            .ok_or_else(overflow)?
    } else {
        Decimal::ZERO
    };
    let sum = combustion.checked_add(electricity).ok_or_else(overflow)?;
    let total_t = rules
        .rounding
        .checked_round_to_tonnes(sum)
        .ok_or_else(overflow)?;
    Ok(UnitEmissions {
        combustion,
        electricity,
        total_t,
    })
}

/// tC = tCO2 × 12/44; so tCO2 = tC × 44 / 12.
fn co2_from_carbon(carbon_t: Decimal) -> Option<Decimal> {
    carbon_t
        .checked_mul(Decimal::from_parts(44, 0, 0, false, 0))?
        .checked_div(Decimal::from_parts(12, 0, 0, false, 0))
}

/// Carbon (t) oxidised from one fuel.
fn fuel_carbon_t(unit: &UnitId, fuel: &FuelUse, rules: &MrvRules) -> Result<Decimal, MrvError> {
    let defaults = rules
        .fuels
        .get(&fuel.fuel)
        .ok_or_else(|| MrvError::UnknownFuel {
            unit: unit.clone(),
            fuel: fuel.fuel.clone(),
        })?;
    // The field's name is formatted only for an error, never on the success path.
    let field = |name: &'static str| move || format!("fuel {} {name}", fuel.fuel);
    non_negative(unit, fuel.consumption, field("consumption"))?;
    let of = fuel.oxidation_rate.unwrap_or(defaults.oxidation_rate);
    non_negative(unit, of, field("oxidation_rate"))?;
    if of > Decimal::ONE {
        return Err(MrvError::OxidationAboveOne {
            unit: unit.clone(),
            fuel: fuel.fuel.clone(),
            value: of,
        });
    }
    let overflow = || MrvError::Overflow { unit: unit.clone() };
    // Measured elemental carbon (tC per fuel unit) replaces NCV × CC when present.
    let carbon_per_fuel_unit = match fuel.elemental_carbon {
        Some(c) => {
            non_negative(unit, c, field("elemental_carbon"))?;
            c
        }
        None => {
            let ncv = fuel.ncv_gj.unwrap_or(defaults.ncv_gj);
            let cc = fuel
                .carbon_content_tc_per_gj
                .unwrap_or(defaults.carbon_content_tc_per_gj);
            non_negative(unit, ncv, field("ncv_gj"))?;
            non_negative(unit, cc, field("carbon_content_tc_per_gj"))?;
            ncv.checked_mul(cc).ok_or_else(overflow)?
        }
    };
    fuel.consumption
        .checked_mul(carbon_per_fuel_unit)
        .and_then(|x| x.checked_mul(of))
        .ok_or_else(overflow)
}

fn non_negative(
    unit: &UnitId,
    value: Decimal,
    field: impl FnOnce() -> String,
) -> Result<(), MrvError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(MrvError::Negative {
            unit: unit.clone(),
            field: field(),
            value,
        });
    }
    Ok(())
}
