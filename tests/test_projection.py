"""The projection of a lesson's full-mode time from its timed, capped loops."""
import pytest

from coursehelpers.runner.projection import print_projection, projection_rows


def _results():
    return [
        {'lesson': '01_x', 'metric': 'notebook_seconds', 'value': 100.0, 'peak_mb': 900.0,
         'status': 'ok'},
        {'lesson': '01_x', 'metric': 'accuracy', 'value': 0.5,
         'data': {'dogscats': {'standin': True}}},
        {'lesson': '05_y', 'metric': 'notebook_seconds', 'value': 20.0, 'peak_mb': 700.0,
         'status': 'ok'},
        {'lesson': '05_y', 'metric': 'mse', 'value': 0.7, 'data': {'ml-latest-small': {}}},
        {'lesson': '09_z', 'metric': 'notebook_seconds', 'value': 5.0, 'peak_mb': 1.0,
         'status': 'failed'},
    ]


def test_a_lesson_is_its_notebook_time_with_the_loops_run_in_full():
    loops = [
        # 01 on a stand-in of scale 0.5: 10 batches there are 20 in the real data
        {'lesson': '01_x', 'kind': 'train', 'ran': 3, 'total': 10, 'first_s': 1.5, 'all_s': 2.5,
         'batch_size': 64},
        {'lesson': '01_x', 'kind': 'fit', 'epochs': 1, 'ran_epochs': 1},
        {'lesson': '01_x', 'kind': 'lr_find', 'ran': 3, 'total': 100, 'first_s': 1.5,
         'all_s': 2.5, 'scales_with_data': False, 'batch_size': 64},
        {'lesson': '05_y', 'kind': 'train', 'ran': 2, 'total': 40, 'first_s': 0.5, 'all_s': 0.6,
         'batch_size': 2048},
    ]
    rows = projection_rows(_results(), loops, {'dogscats': 0.5})
    by = {r['lesson']: r for r in rows}
    assert set(by) == {'01_x', '05_y', 'course'}                      # the failed lesson: none
    one = by['01_x']
    # loops measured 5.0 s; projected: (1.0 + 0.5 x 20) + (1.0 + 0.5 x 100) = 62.0 s
    assert one['loops_measured_s'] == 5.0 and one['loops_projected_s'] == 62.0
    assert one['value'] == 100.0 - 5.0 + 62.0 and one['data_scale'] == 0.5 and one['standin']
    assert one['train_samples_per_s'] == ['bs 64 x 20 batches: 128.0']
    five = by['05_y']                                                 # real data: scale 1
    assert five['data_scale'] == 1.0 and not five['standin']
    assert five['loops_projected_s'] == pytest.approx(0.4 + 0.1 * 40)
    assert by['course']['value'] == pytest.approx(one['value'] + five['value'], abs=0.1)
    assert by['course']['standin'] is True


def test_the_table_prints_every_row(capsys):
    rows = projection_rows(_results(), [], {})
    print_projection(rows, 5)
    out = capsys.readouterr().out
    assert '01_x' in out and 'course' in out and 'capped at 5 batches' in out
