//! Tables that give up their least important columns on narrow terminals instead of
//! truncating every column: at 80 columns a version list keeps whole dates and aliases and
//! drops the SHA, which `flightdeck versions` still prints.

use ratatui::layout::Constraint;
use ratatui::widgets::{Cell, Row, Table};

use crate::theme::Theme;

/// One column: its header, its width, and when it goes (0: never; higher numbers go first).
pub(crate) struct Column {
    pub header: &'static str,
    pub width: Constraint,
    pub drop: u8,
}

impl Column {
    pub const fn new(header: &'static str, width: Constraint, drop: u8) -> Self {
        Self {
            header,
            width,
            drop,
        }
    }

    fn cells(&self) -> u16 {
        match self.width {
            Constraint::Length(n) | Constraint::Min(n) | Constraint::Max(n) => n,
            _ => 1,
        }
    }
}

/// Indices of the columns that fit in `room` cells (with one space between columns and the
/// two-cell selection marker), dropping the highest `drop` first.
pub(crate) fn fitting(columns: &[Column], room: u16) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..columns.len()).collect();
    let needed = |kept: &[usize]| -> u16 {
        let widths: u16 = kept.iter().map(|&i| columns[i].cells()).sum();
        widths + kept.len().saturating_sub(1) as u16 + 2
    };
    while needed(&kept) > room {
        let Some(victim) = kept
            .iter()
            .enumerate()
            .filter(|(_, i)| columns[**i].drop > 0)
            .max_by_key(|(position, i)| (columns[**i].drop, *position))
            .map(|(position, _)| position)
        else {
            break;
        };
        kept.remove(victim);
    }
    kept
}

/// The width of a table's identity column (model, feature): its longest name whole, as long as
/// the other columns that never drop still fit in `room` beside it; the droppable ones go
/// first ([`fitting`]). Never narrower than its header.
pub(crate) fn identity_width<'a>(
    names: impl Iterator<Item = &'a str>,
    header: &str,
    others: &[Column],
    room: u16,
) -> u16 {
    let header = header.chars().count() as u16;
    let longest = names
        .map(|n| n.chars().count() as u16)
        .max()
        .unwrap_or(0)
        .max(header);
    let required: Vec<&Column> = others.iter().filter(|c| c.drop == 0).collect();
    // Each required column, a space before it, and the two-cell selection marker.
    let beside: u16 = required.iter().map(|c| c.cells() + 1).sum::<u16>() + 2;
    longest.min(room.saturating_sub(beside)).max(header)
}

/// The cells the column headed `header` gets in a [`fitted_table`] `room` wide (laid out as
/// the table lays out its columns: after the two-cell selection marker, a space between
/// columns), or `None` when it is left out. A cell's text longer than that is cut by the
/// table without a sign: a caller clips it itself, with `…`, where a cut could read as
/// another value (`accuracy=0.8055` cut to `accuracy=0`).
pub(crate) fn width_of(columns: &[Column], room: u16, header: &str) -> Option<usize> {
    let kept = fitting(columns, room);
    let position = kept.iter().position(|&i| columns[i].header == header)?;
    let [_, area] =
        ratatui::layout::Layout::horizontal([Constraint::Length(2), Constraint::Fill(0)])
            .areas(ratatui::layout::Rect::new(0, 0, room, 1));
    let widths: Vec<Constraint> = kept.iter().map(|&i| columns[i].width).collect();
    let rects = ratatui::layout::Layout::horizontal(widths)
        .flex(ratatui::layout::Flex::Start)
        .spacing(1)
        .split(area);
    rects.get(position).map(|r| usize::from(r.width))
}

/// `block` with the columns a table `room` wide leaves out said on its bottom edge,
/// `+2 wider: ACC SMOKE`: nothing hides unsaid.
pub(crate) fn hidden_said<'a>(
    block: ratatui::widgets::Block<'a>,
    columns: &[Column],
    room: u16,
    theme: &Theme,
) -> ratatui::widgets::Block<'a> {
    let kept = fitting(columns, room);
    let hidden: Vec<&str> = (0..columns.len())
        .filter(|i| !kept.contains(i))
        .map(|i| columns[i].header)
        .collect();
    if hidden.is_empty() {
        return block;
    }
    block.title_bottom(
        ratatui::text::Line::from(ratatui::text::Span::styled(
            format!(" +{} wider: {} ", hidden.len(), hidden.join(" ")),
            theme.dim(),
        ))
        .right_aligned(),
    )
}

/// A selectable table of `rows` (one cell per column) showing only the columns that fit in
/// `room`.
pub(crate) fn fitted_table<'a>(
    rows: Vec<Vec<Cell<'a>>>,
    columns: &[Column],
    room: u16,
    theme: &Theme,
    ascii: bool,
) -> Table<'a> {
    let kept = fitting(columns, room);
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|cells| {
            let mut cells: Vec<Option<Cell>> = cells.into_iter().map(Some).collect();
            Row::new(kept.iter().filter_map(|&i| cells.get_mut(i)?.take()))
        })
        .collect();
    let widths: Vec<Constraint> = kept.iter().map(|&i| columns[i].width).collect();
    let header: Vec<&str> = kept.iter().map(|&i| columns[i].header).collect();
    super::selectable_table(rows, &widths, &header, theme, ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 4] = [
        Column::new("A", Constraint::Length(10), 0),
        Column::new("B", Constraint::Length(10), 2),
        Column::new("C", Constraint::Length(10), 1),
        Column::new("D", Constraint::Min(10), 0),
    ];

    #[test]
    fn width_of_is_the_width_the_table_draws_a_column_at() {
        // 34 cells: the marker (2), A, C, D and the two spaces between them; B dropped first.
        assert_eq!(width_of(&COLUMNS, 34, "A"), Some(10));
        assert_eq!(width_of(&COLUMNS, 34, "B"), None);
        // D takes the rest: 34 - 2 - 10 - 1 - 10 - 1 = 10.
        assert_eq!(width_of(&COLUMNS, 34, "D"), Some(10));
        assert_eq!(
            width_of(&COLUMNS, 60, "D"),
            Some(25),
            "all four fit: 60 - 2 - 30 - 3"
        );
        // Drawn, the table cuts a longer text at exactly that width.
        let rows = vec![vec![
            Cell::from("a"),
            Cell::from("b"),
            Cell::from("c"),
            Cell::from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ]];
        let theme = crate::theme::Theme::built_in("dark", false).unwrap();
        let mut buffer = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 60, 2));
        let mut state = ratatui::widgets::TableState::default().with_selected(Some(0));
        ratatui::widgets::StatefulWidget::render(
            fitted_table(rows, &COLUMNS, 60, &theme, false),
            buffer.area,
            &mut buffer,
            &mut state,
        );
        let line: String = (0..60)
            .map(|x| buffer[(x, 1)].symbol().to_string())
            .collect();
        assert!(
            line.trim_end().ends_with(" 0123456789ABCDEFGHIJKLMNO"),
            "{line:?}"
        );
    }

    #[test]
    fn the_identity_column_takes_its_longest_name_while_the_required_ones_fit() {
        let others = &COLUMNS[1..];
        let names = ["fraud-detector", "churn"];
        // B and C may drop: only D (10) + a space + the marker stand beside it.
        assert_eq!(identity_width(names.into_iter(), "MODEL", others, 80), 14);
        assert_eq!(identity_width(names.into_iter(), "MODEL", others, 20), 7);
        assert_eq!(
            identity_width(names.into_iter(), "MODEL", others, 5),
            5,
            "its header"
        );
        assert_eq!(identity_width(std::iter::empty(), "MODEL", others, 80), 5);
    }

    #[test]
    fn the_highest_drop_goes_first_and_required_columns_stay() {
        assert_eq!(fitting(&COLUMNS, 200), vec![0, 1, 2, 3]);
        // 4 columns need 40 + 3 spaces + 2 marker = 45.
        assert_eq!(fitting(&COLUMNS, 45), vec![0, 1, 2, 3]);
        assert_eq!(fitting(&COLUMNS, 44), vec![0, 2, 3]);
        assert_eq!(fitting(&COLUMNS, 33), vec![0, 3]);
        assert_eq!(
            fitting(&COLUMNS, 5),
            vec![0, 3],
            "never below the required ones"
        );
    }
}
